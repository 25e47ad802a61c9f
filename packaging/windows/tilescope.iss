; Inno Setup script for tilescope (per-machine install, Start menu entry, file associations).
; Built by packaging\windows\build_windows.ps1 with /DAppVersion=X.Y.Z.
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppName=tilescope
AppVersion={#AppVersion}
AppPublisher=tilescope developers
DefaultDirName={autopf}\tilescope
DefaultGroupName=tilescope
OutputDir=..\..\dist
OutputBaseFilename=tilescope-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
LicenseFile=..\..\LICENSE

[Files]
Source: "..\..\dist\tilescope\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
Source: "..\..\NOTICE"; DestDir: "{app}"

[Icons]
Name: "{group}\tilescope"; Filename: "{app}\tilescope.exe"; Parameters: "gui"
Name: "{group}\tilescope demo slide"; Filename: "{app}\tilescope.exe"; Parameters: "demo"

[Registry]
Root: HKA; Subkey: "Software\Classes\.svs\OpenWithProgids"; ValueType: string; ValueName: "tilescope.slide"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\tilescope.slide\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\tilescope.exe"" gui ""%1"""; Flags: uninsdeletekey
