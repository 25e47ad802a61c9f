#!/usr/bin/env bash
# Build the Linux one-folder app, a tarball and a .deb.
#   packaging/build_linux.sh [--python PY] [--no-archives]
# Output: dist/tilescope/ (run dist/tilescope/tilescope), dist/tilescope-VERSION-linux-x86_64.tar.gz,
#         dist/tilescope_VERSION_amd64.deb (installs to /opt/tilescope, /usr/bin/tilescope link,
#         a desktop entry; depends on the X11 libraries Qt needs, libxcb-cursor0 included).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ARCHIVES=1
while [ $# -gt 0 ]; do
  case "$1" in
    --python) PY=$2; shift 2 ;;
    --no-archives) ARCHIVES=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
"$PY" -m PyInstaller --version >/dev/null 2>&1 || "$PY" -m pip install -q "pyinstaller>=6.10"
VERSION=$("$PY" -c "import tilescope; print(tilescope.__version__)")
rm -rf build/pyinstaller dist/tilescope
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath build/pyinstaller --distpath dist packaging/tilescope.spec
[ "$ARCHIVES" -eq 1 ] || { echo "built dist/tilescope"; exit 0; }

tar -C dist -czf "dist/tilescope-$VERSION-linux-x86_64.tar.gz" tilescope

DEB=build/deb
rm -rf "$DEB"
mkdir -p "$DEB/DEBIAN" "$DEB/opt" "$DEB/usr/bin" "$DEB/usr/share/applications"
cp -a dist/tilescope "$DEB/opt/tilescope"
ln -s /opt/tilescope/tilescope "$DEB/usr/bin/tilescope"
cp packaging/linux/tilescope.desktop "$DEB/usr/share/applications/"
SIZE=$(du -sk "$DEB/opt" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$SIZE/" packaging/linux/control.in > "$DEB/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$DEB" "dist/tilescope_${VERSION}_amd64.deb" >/dev/null
echo "built dist/tilescope, dist/tilescope-$VERSION-linux-x86_64.tar.gz, dist/tilescope_${VERSION}_amd64.deb"
