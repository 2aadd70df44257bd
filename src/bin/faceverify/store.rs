//! The PostgreSQL + pgvector store behind `faceverify db`: schema, enrolment, 1:N search,
//! gallery import and export. SQL only; the pipeline stays in the library.
//!
//! Schema (docs/database.md):
//! - `faceverify_models`: one row per recognition model in use — embedding size, metric, the
//!   HNSW parameters of its index, and the name of its faces table.
//! - `faceverify_identities`: one row per person, shared by every model.
//! - `faceverify_faces_<model>`: a table per model, so embeddings of different models never
//!   mix: `embedding vector(N)`, the source file and its sha256 (unique: what makes enrolment
//!   resumable), the face box, its quality, when it was added; an HNSW index on `embedding`.
//!
//! Every value goes in as a query parameter. Table and index names cannot be parameters;
//! they are made from the registry's model ids, reduced to `[a-z0-9_]`, and quoted.

use std::collections::HashSet;
use std::time::Instant;

use faceverify::pipeline::compare::Metric;
use faceverify::pipeline::gallery::{Gallery, Match};
use faceverify::Error as CoreError;
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::{Client, Config, NoTls, Transaction};

/// A database failure, or a store that does not fit the request; the message never holds
/// the URL's password.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        // `postgres::Error`'s Display is "db error" alone; the server's message is in the source.
        match e.as_db_error() {
            Some(db) => Error(format!("{}: {}{}", db.severity(), db.message(), db.hint().map(|h| format!(" (hint: {h})")).unwrap_or_default())),
            None => Error(std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"))),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// HNSW parameters (pgvector's names and defaults): `m`, links per node, 2–100;
/// `ef_construction`, the candidate list while building, ≥ 2·m, ≤ 1000. Larger: better
/// recall, slower builds, bigger index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexParams {
    pub m: u32,
    pub ef_construction: u32,
}

impl Default for IndexParams {
    fn default() -> Self {
        IndexParams { m: 16, ef_construction: 64 }
    }
}

/// One face to enrol.
pub struct NewFace {
    pub person: String,
    pub embedding: Vec<f32>,
    pub source_file: String,
    pub sha256: [u8; 32],
    /// x, y, width, height in the photo's pixels.
    pub bbox: [f32; 4],
    pub quality: Option<f32>,
}

/// How [`Store::find`] searches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    /// Through the HNSW index, ranking the identities of the nearest `candidates` faces (1–1000).
    Index { candidates: usize },
    /// Every face compared.
    Exact,
}

/// What a built index costs.
pub struct IndexReport {
    pub seconds: f64,
    pub bytes: i64,
}

/// `user@host:port/dbname` of a connection string: what messages may show of it.
pub fn redacted(url: &str) -> String {
    let Ok(config) = url.parse::<Config>() else { return "(an unparsable database URL)".into() };
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{}@{host}:{port}/{}", config.get_user().unwrap_or("(default user)"), config.get_dbname().unwrap_or("(default database)"))
}

/// Connect to `url` (a `postgresql://` URL or `key=value` pairs), without TLS.
pub fn connect(url: &str) -> Result<Client> {
    // Parse errors of a URL may quote it, password and all: say only what is wrong.
    let config: Config = url.parse().map_err(|_| Error("the database URL is not a postgresql:// URL or key=value list".into()))?;
    config.connect(NoTls).map_err(|e| Error(format!("cannot connect to {}: {}", redacted(url), Error::from(e))))
}

fn sql_metric(metric: Metric) -> Result<(&'static str, &'static str)> {
    match metric {
        Metric::Euclidean => Ok(("<->", "vector_l2_ops")),
        Metric::Cosine => Ok(("<=>", "vector_cosine_ops")),
        other => Err(Error(format!("the database searches by euclidean or cosine distance, not {other}"))),
    }
}

/// The quoted names of `model`'s faces table and HNSW index, made only of `[a-z0-9_]`: safe
/// to put in SQL text.
fn names(model: &str) -> (String, String) {
    let id: String = model.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    (format!("\"faceverify_faces_{id}\""), format!("\"faceverify_faces_{id}_hnsw\""))
}

/// The store for one recognition model.
pub struct Store {
    client: Client,
    model: String,
    size: usize,
    metric: Metric,
    /// Quoted names of the model's faces table and HNSW index.
    table: String,
    index: String,
    /// The index's parameters, as recorded.
    params: IndexParams,
}

/// What an import did.
pub struct ImportReport {
    pub identities_created: u64,
    pub faces_added: u64,
    /// The index rebuilt after a bulk load, and what that took.
    pub index: Option<IndexReport>,
}

/// An import of at least this many rows, and at least as many as the table holds, drops the
/// HNSW index and builds it once afterwards (pgvector's advice: building is far faster than
/// growing the graph row by row).
const BULK_ROWS: usize = 10_000;

impl Store {
    /// Create (or check) the schema for `model` and its HNSW index. Idempotent; refuses a
    /// model already set up with another size or metric.
    pub fn init(mut client: Client, model: &str, size: usize, metric: Metric, params: IndexParams) -> Result<Store> {
        sql_metric(metric)?;
        check_params(params)?;
        let (table, index) = names(model);
        let mut tx = client.transaction()?;
        // One init at a time: concurrent CREATE IF NOT EXISTS can still collide.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('faceverify db init'))", &[])?;
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").map_err(|e| {
            Error(format!("{}: pgvector must be installed on the server, and creating it needs a role that may (once per database)", Error::from(e)))
        })?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS faceverify_models (
                model text PRIMARY KEY,
                embedding_size integer NOT NULL CHECK (embedding_size > 0),
                metric text NOT NULL,
                faces_table text NOT NULL UNIQUE,
                hnsw_m integer NOT NULL,
                hnsw_ef_construction integer NOT NULL,
                created timestamptz NOT NULL DEFAULT now());
             CREATE TABLE IF NOT EXISTS faceverify_identities (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text NOT NULL UNIQUE CHECK (length(btrim(name)) > 0 AND length(name) <= 200),
                created timestamptz NOT NULL DEFAULT now());",
        )?;
        let existing = tx.query_opt("SELECT embedding_size, metric FROM faceverify_models WHERE model = $1", &[&model])?;
        if let Some(row) = existing {
            let (had_size, had_metric): (i32, String) = (row.get(0), row.get(1));
            if had_size as usize != size || had_metric != metric.to_string() {
                return Err(Error(format!(
                    "model {model} is already set up here with {had_size}-d embeddings by {had_metric} distance, not {size}-d by {metric}"
                )));
            }
        } else {
            tx.execute(
                "INSERT INTO faceverify_models (model, embedding_size, metric, faces_table, hnsw_m, hnsw_ef_construction) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&model, &(size as i32), &metric.to_string(), &table.trim_matches('"'), &(params.m as i32), &(params.ef_construction as i32)],
            )?;
            tx.batch_execute(&format!(
                "CREATE TABLE {table} (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    identity_id bigint NOT NULL REFERENCES faceverify_identities (id) ON DELETE CASCADE,
                    embedding vector({size}) NOT NULL,
                    source_file text,
                    sha256 bytea UNIQUE CHECK (octet_length(sha256) = 32),
                    box real[] CHECK (cardinality(box) = 4),
                    quality real,
                    created timestamptz NOT NULL DEFAULT now());
                 CREATE INDEX ON {table} (identity_id);"
            ))?;
            create_index(&mut tx, &table, &index, metric, params)?;
        }
        tx.commit()?;
        Store::open(client, model, size)
    }

    /// The store of `model` in a database set up by [`Store::init`].
    pub fn open(mut client: Client, model: &str, size: usize) -> Result<Store> {
        let row = client
            .query_opt("SELECT to_regclass('faceverify_models') IS NOT NULL", &[])?
            .filter(|r| r.get::<_, bool>(0))
            .and_then(|_| {
                let sql = "SELECT embedding_size, metric, hnsw_m, hnsw_ef_construction FROM faceverify_models WHERE model = $1";
                client.query_opt(sql, &[&model]).transpose()
            })
            .transpose()?
            .ok_or_else(|| Error(format!("this database has no faces of model {model}: run `faceverify db init` first")))?;
        let (had_size, metric): (i32, String) = (row.get(0), row.get(1));
        if had_size as usize != size {
            return Err(Error(format!("model {model} is stored here with {had_size}-d embeddings, but it makes {size}-d ones")));
        }
        let metric = metric.parse().map_err(|e: CoreError| Error(e.to_string()))?;
        let params = IndexParams { m: row.get::<_, i32>(2) as u32, ef_construction: row.get::<_, i32>(3) as u32 };
        let (table, index) = names(model);
        Ok(Store { params, client, model: model.into(), size, metric, table, index })
    }

    /// The HNSW parameters, as recorded.
    pub fn index_params(&self) -> IndexParams {
        self.params
    }

    /// The metric the index was built for.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// (identities with faces of this model, faces).
    pub fn counts(&mut self) -> Result<(i64, i64)> {
        let row = self.client.query_one(&format!("SELECT count(DISTINCT identity_id), count(*) FROM {}", self.table), &[])?;
        Ok((row.get(0), row.get(1)))
    }

    /// The sha256 of every file already enrolled: what a resumed enrolment skips.
    pub fn enrolled_files(&mut self) -> Result<HashSet<[u8; 32]>> {
        let rows = self.client.query(&format!("SELECT sha256 FROM {} WHERE sha256 IS NOT NULL", self.table), &[])?;
        Ok(rows.iter().filter_map(|r| r.get::<_, &[u8]>(0).try_into().ok()).collect())
    }

    /// Add `faces` in one transaction; a file already there (by sha256) is left as it is.
    /// Returns how many were added.
    pub fn add(&mut self, faces: &[NewFace]) -> Result<u64> {
        let mut tx = self.client.transaction()?;
        let identity = tx.prepare(
            "INSERT INTO faceverify_identities (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        )?;
        let insert = tx.prepare(&format!(
            "INSERT INTO {} (identity_id, embedding, source_file, sha256, box, quality) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
            self.table
        ))?;
        let mut added = 0;
        for face in faces {
            let id: i64 = tx.query_one(&identity, &[&face.person])?.get(0);
            let embedding = Vector::from(face.embedding.clone());
            added += tx.execute(
                &insert,
                &[&id, &embedding, &face.source_file, &&face.sha256[..], &face.bbox.to_vec(), &face.quality],
            )?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// The `k` identities nearest `probe`, closest first, each with its best and mean
    /// distance over all its faces and the verdict at `threshold`.
    ///
    /// By the index ([`Search::Index`]): the HNSW index gives the nearest `candidates` faces
    /// (pgvector's `hnsw.ef_search` set to as many), and the identities among them are
    /// ranked. [`Search::Exact`]: every face is compared (a sequential scan).
    pub fn find(&mut self, probe: &[f32], k: usize, search: Search, threshold: f32) -> Result<Vec<Match>> {
        if probe.len() != self.size {
            return Err(Error(format!("the probe has {} values, the model's embeddings {}", probe.len(), self.size)));
        }
        let (op, _) = sql_metric(self.metric)?;
        let probe = Vector::from(probe.to_vec());
        let limit = k as i64;
        let mut tx = self.client.transaction()?;
        let nearest: Vec<i64> = if let Search::Index { candidates } = search {
            if !(1..=1000).contains(&candidates) {
                return Err(Error(format!("the index reads 1–1000 candidates (pgvector's hnsw.ef_search), not {candidates}")));
            }
            tx.execute("SELECT set_config('hnsw.ef_search', $1, true)", &[&candidates.to_string()])?;
            tx.query(
                &format!(
                    "SELECT identity_id FROM (SELECT identity_id, embedding {op} $1 AS d FROM {} ORDER BY embedding {op} $1 LIMIT $2) near
                     GROUP BY identity_id ORDER BY min(d) LIMIT $3",
                    self.table
                ),
                &[&probe, &(candidates as i64), &limit],
            )?
        } else {
            tx.query(
                &format!(
                    "SELECT identity_id FROM {} GROUP BY identity_id ORDER BY min(embedding {op} $1) LIMIT $2",
                    self.table
                ),
                &[&probe, &limit],
            )?
        }
        .iter()
        .map(|r| r.get(0))
        .collect();
        let rows = tx.query(
            &format!(
                "SELECT i.name, min(f.embedding {op} $1), avg(f.embedding {op} $1) FROM {} f
                 JOIN faceverify_identities i ON i.id = f.identity_id WHERE f.identity_id = ANY($2) GROUP BY i.name",
                self.table
            ),
            &[&probe, &nearest],
        )?;
        tx.commit()?;
        let mut matches: Vec<Match> = rows
            .iter()
            .map(|r| {
                let (best, mean): (f64, f64) = (r.get(1), r.get(2));
                Match { name: r.get(0), best_distance: best as f32, mean_distance: mean as f32, verified: best as f32 <= threshold }
            })
            .collect();
        matches.sort_by(|a, b| a.best_distance.total_cmp(&b.best_distance).then_with(|| a.name.cmp(&b.name)));
        Ok(matches)
    }

    /// Add a gallery's identities and embeddings, all or nothing (one transaction); an
    /// embedding its identity already has is not added twice. A bulk load (see [`BULK_ROWS`])
    /// rebuilds the index once at the end, inside the same transaction.
    pub fn import(&mut self, gallery: &Gallery, source: &str) -> Result<ImportReport> {
        let (model, size) = gallery.model();
        if model != self.model || size != self.size {
            return Err(Error(format!("the gallery is of model {model} ({size}-d), the store of {} ({}-d)", self.model, self.size)));
        }
        // Rows only: counts()'s distinct identities would be a second pass over a large table.
        let had: i64 = self.client.query_one(&format!("SELECT count(*) FROM {}", self.table), &[])?.get(0);
        let bulk = gallery.len() >= BULK_ROWS && gallery.len() as i64 >= had;
        let vector_type = self.client.prepare("SELECT $1::vector")?.params()[0].clone();
        let mut tx = self.client.transaction()?;
        tx.batch_execute("CREATE TEMPORARY TABLE faceverify_import (n bigint, name text, embedding vector) ON COMMIT DROP")?;
        copy_rows(&mut tx, gallery, vector_type)?;
        let identities_created = tx.execute(
            "INSERT INTO faceverify_identities (name) SELECT DISTINCT name FROM faceverify_import ON CONFLICT (name) DO NOTHING",
            &[],
        )?;
        if bulk {
            tx.batch_execute(&format!("DROP INDEX IF EXISTS {}", self.index))?;
        }
        let faces_added = tx.execute(
            &format!(
                "INSERT INTO {t} (identity_id, embedding, source_file)
                 SELECT i.id, x.embedding, $1 FROM faceverify_import x JOIN faceverify_identities i ON i.name = x.name
                 WHERE NOT EXISTS (SELECT 1 FROM {t} f WHERE f.identity_id = i.id AND f.embedding = x.embedding)
                 ORDER BY x.n",
                t = self.table
            ),
            &[&source],
        )?;
        let index = match bulk {
            true => Some(create_index(&mut tx, &self.table, &self.index, self.metric, self.params)?),
            false => None,
        };
        tx.commit()?;
        Ok(ImportReport { identities_created, faces_added, index })
    }

    /// Every face of this model as a gallery (identities in order of creation, each one's
    /// embeddings in order of enrolment). Fails beyond the gallery's size limit.
    pub fn export(&mut self) -> Result<Gallery> {
        let mut gallery = Gallery::new(&self.model, self.size);
        let rows = self.client.query(
            &format!("SELECT i.name, f.embedding FROM {} f JOIN faceverify_identities i ON i.id = f.identity_id ORDER BY i.id, f.id", self.table),
            &[],
        )?;
        for row in rows {
            let embedding: Vector = row.get(1);
            gallery.enroll(row.get(0), embedding.to_vec()).map_err(|e| Error(format!("cannot export: {e}")))?;
        }
        Ok(gallery)
    }

    /// (Re)build the HNSW index with `params`, and record them. The build is fastest when
    /// the graph fits in the server's `maintenance_work_mem`.
    pub fn build_index(&mut self, params: IndexParams) -> Result<IndexReport> {
        check_params(params)?;
        let mut tx = self.client.transaction()?;
        let report = create_index(&mut tx, &self.table, &self.index, self.metric, params)?;
        tx.execute(
            "UPDATE faceverify_models SET hnsw_m = $2, hnsw_ef_construction = $3 WHERE model = $1",
            &[&self.model, &(params.m as i32), &(params.ef_construction as i32)],
        )?;
        tx.commit()?;
        self.params = params;
        Ok(report)
    }
}

/// Drop and create `index` on `table` inside `tx`; its build time and size.
fn create_index(tx: &mut Transaction, table: &str, index: &str, metric: Metric, params: IndexParams) -> Result<IndexReport> {
    let (_, ops) = sql_metric(metric)?;
    let start = Instant::now();
    tx.batch_execute(&format!(
        "DROP INDEX IF EXISTS {index}; CREATE INDEX {index} ON {table} USING hnsw (embedding {ops}) WITH (m = {}, ef_construction = {})",
        params.m, params.ef_construction
    ))?;
    let seconds = start.elapsed().as_secs_f64();
    let bytes = tx.query_one("SELECT pg_relation_size($1::text::regclass)", &[&index])?.get(0);
    Ok(IndexReport { seconds, bytes })
}

/// How many nearest faces an approximate search reads to rank `k` identities: 40 per
/// identity, at least 400, at most pgvector's `hnsw.ef_search` limit of 1000. A person enrolled
/// from many photos fills several places; measured (docs/database.md, 10 faces per identity,
/// 100 k faces, bench/db.json), 400 candidates find the exact nearest identity for every one
/// of 1000 probes and 98.3 % of the exact top 10, in 9 ms; at 1 M, 97.2 % and 82.6 %.
pub fn candidates(k: usize) -> usize {
    (k * 40).clamp(400, 1000)
}

fn check_params(params: IndexParams) -> Result<()> {
    if !(2..=100).contains(&params.m) || params.ef_construction < 2 * params.m || params.ef_construction > 1000 {
        return Err(Error(format!(
            "HNSW m must be 2–100 and ef_construction 2·m–1000 (got m = {}, ef_construction = {})",
            params.m, params.ef_construction
        )));
    }
    Ok(())
}

/// The gallery's rows into the import table by binary COPY (one round trip for them all).
fn copy_rows(tx: &mut Transaction, gallery: &Gallery, vector_type: postgres::types::Type) -> Result<()> {
    use postgres::types::Type;
    let sink = tx.copy_in("COPY faceverify_import (n, name, embedding) FROM STDIN (FORMAT binary)")?;
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, vector_type]);
    for (n, (name, row)) in gallery.embeddings().enumerate() {
        writer.write(&[&(n as i64), &name, &Vector::from(row.to_vec())])?;
    }
    writer.finish()?;
    Ok(())
}
