# Build the Windows one-folder app and an Inno Setup installer (run on Windows, PowerShell).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_windows.ps1
# Needs Python 3.11+ and Inno Setup 6 (iscc.exe on PATH). Output: dist\tilescope\ and
# dist\tilescope-setup-VERSION.exe. Same spec file as Linux: packaging\tilescope.spec.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
if (-not (Test-Path .venv)) { py -3.11 -m venv .venv }
.\.venv\Scripts\python -m pip install -q --upgrade pip
.\.venv\Scripts\python -m pip install -q . "pyinstaller>=6.10"
.\.venv\Scripts\python -m PyInstaller --noconfirm --clean --workpath build\pyinstaller --distpath dist packaging\tilescope.spec
$version = .\.venv\Scripts\python -c "import tilescope; print(tilescope.__version__)"
iscc /DAppVersion=$version packaging\windows\tilescope.iss
