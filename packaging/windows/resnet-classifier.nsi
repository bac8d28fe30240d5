; The Windows installer around PyInstaller's one-folder app (packaging/windows/build.sh installer):
;
;   makensis -DVERSION=0.1.0 -DSOURCE_DIR=dist/windows/resnet-classifier \
;            -DOUTFILE=dist/ResNetClassifier-0.1.0-Setup.exe packaging/windows/resnet-classifier.nsi
;
; Per user, no administrator rights: into %LOCALAPPDATA%\Programs\ResNet Classifier, with a
; Start-menu entry, "Open with" for JPEG, PNG, WebP, TIFF, BMP and HEIC photos (without taking
; over the default viewer), and an entry in Settings > Apps that uninstalls it. The uninstaller
; removes what the installer wrote and leaves the user's data (settings, downloaded weights).
; Silent: Setup.exe /S [/D=folder]; uninstall.exe /S.

Unicode true
Target amd64-unicode
ManifestDPIAware true

!ifndef VERSION
  !define VERSION "0.0.0"
!endif
!ifndef SOURCE_DIR
  !define SOURCE_DIR "..\..\dist\windows\resnet-classifier"
!endif
!ifndef OUTFILE
  !define OUTFILE "..\..\dist\ResNetClassifier-${VERSION}-Setup.exe"
!endif
!ifndef COMPRESSOR
  !define COMPRESSOR "/SOLID lzma"
!endif

!define APP_NAME "ResNet Classifier"
!define APP_EXE "resnet-classifier.exe"
!define CLI_EXE "resnet-classify.exe"
!define PROG_ID "ResNetClassifier.Image"
; Settings > Apps finds the app under this key: never change it.
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\ResNetClassifier"
!define CLASSES "Software\Classes"

SetCompressor ${COMPRESSOR}
Name "${APP_NAME}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${APP_NAME} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "BSD-3-Clause"

!include "MUI2.nsh"
!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; "Open with" for one extension: our ProgID in its OpenWithProgids, the app in SupportedTypes.
!macro OPEN_WITH EXT
  WriteRegStr HKCU "${CLASSES}\${EXT}\OpenWithProgids" "${PROG_ID}" ""
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}\SupportedTypes" "${EXT}" ""
!macroend
!macro UN_OPEN_WITH EXT
  DeleteRegValue HKCU "${CLASSES}\${EXT}\OpenWithProgids" "${PROG_ID}"
  DeleteRegKey /ifempty HKCU "${CLASSES}\${EXT}\OpenWithProgids"
  DeleteRegKey /ifempty HKCU "${CLASSES}\${EXT}"
!macroend

Section "Install"
  SetShellVarContext current
  ; An older version's files go first, so none of them lingers beside the new ones.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${SOURCE_DIR}\*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0

  WriteRegStr HKCU "${CLASSES}\${PROG_ID}" "" "Image (${APP_NAME})"
  WriteRegStr HKCU "${CLASSES}\${PROG_ID}\DefaultIcon" "" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "${CLASSES}\${PROG_ID}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}" "FriendlyAppName" "${APP_NAME}"
  WriteRegStr HKCU "${CLASSES}\Applications\${APP_EXE}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  !insertmacro OPEN_WITH .jpg
  !insertmacro OPEN_WITH .jpeg
  !insertmacro OPEN_WITH .png
  !insertmacro OPEN_WITH .webp
  !insertmacro OPEN_WITH .tif
  !insertmacro OPEN_WITH .tiff
  !insertmacro OPEN_WITH .bmp
  !insertmacro OPEN_WITH .heic
  !insertmacro OPEN_WITH .heif
  ; Explorer re-reads the associations now rather than at the next log-in.
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${APP_NAME} developers"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  SetShellVarContext current
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  ; Only what the installer put there: a folder the user chose keeps anything else it holds.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"

  DeleteRegKey HKCU "${CLASSES}\${PROG_ID}"
  DeleteRegKey HKCU "${CLASSES}\Applications\${APP_EXE}"
  !insertmacro UN_OPEN_WITH .jpg
  !insertmacro UN_OPEN_WITH .jpeg
  !insertmacro UN_OPEN_WITH .png
  !insertmacro UN_OPEN_WITH .webp
  !insertmacro UN_OPEN_WITH .tif
  !insertmacro UN_OPEN_WITH .tiff
  !insertmacro UN_OPEN_WITH .bmp
  !insertmacro UN_OPEN_WITH .heic
  !insertmacro UN_OPEN_WITH .heif
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
