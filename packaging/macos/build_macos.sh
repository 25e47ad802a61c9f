#!/usr/bin/env bash
# Build tilescope.app and a .dmg on macOS (run on a Mac with Python 3.11+).
#   packaging/macos/build_macos.sh
# Uses the same spec (packaging/tilescope.spec) for the one-folder build, then wraps it in an
# .app bundle whose launcher starts the GUI, and makes a compressed disk image with hdiutil.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d .venv ] || python3 -m venv .venv
.venv/bin/python -m pip install -q . "pyinstaller>=6.10"
.venv/bin/python -m PyInstaller --noconfirm --clean --workpath build/pyinstaller --distpath dist packaging/tilescope.spec
VERSION=$(.venv/bin/python -c "import tilescope; print(tilescope.__version__)")
APP=dist/tilescope.app
rm -rf "$APP"
mkdir -p "$APP/Contents/MacOS" "$APP/Contents/Resources"
cp -R dist/tilescope "$APP/Contents/Resources/tilescope"
cat > "$APP/Contents/MacOS/tilescope-launcher" <<'SH'
#!/bin/sh
exec "$(dirname "$0")/../Resources/tilescope/tilescope" gui "$@"
SH
chmod +x "$APP/Contents/MacOS/tilescope-launcher"
sed "s/@VERSION@/$VERSION/" packaging/macos/Info.plist.in > "$APP/Contents/Info.plist"
hdiutil create -volname tilescope -srcfolder "$APP" -ov -format UDZO "dist/tilescope-$VERSION.dmg"
