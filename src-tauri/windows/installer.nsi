; Conclave's Windows installer, built on Debian with makensis (scripts/package windows; tested
; under Wine by scripts/windows). Tauri's own NSIS bundler downloads its plugin from GitHub at build
; time, which this project's build machines cannot reach; this script needs nothing but NSIS.
;
; Per user, without administrator rights: %LOCALAPPDATA%\Programs\Conclave, a Start menu entry,
; conclave:// links opening Conclave, and an entry under Settings > Apps to remove it. Nothing is
; downloaded, at build time or at install time: Conclave's window needs the Microsoft Edge WebView2
; Runtime (part of Windows 11 and of current Windows 10); where it is missing the installer says so
; and where to get it.
;
; makensis -DVERSION=0.1.0 -DSOURCE=<folder with Conclave.exe and its DLLs> -DOUTFILE=<setup.exe>

; A 64-bit installer, as Conclave is 64-bit only (and Wine runs it without its 32-bit half).
Target amd64-unicode
SetCompressor /SOLID lzma
!include "MUI2.nsh"
!include "FileFunc.nsh"

!ifndef VERSION
  !error "VERSION is not set (makensis -DVERSION=…)"
!endif
!ifndef SOURCE
  !error "SOURCE is not set (makensis -DSOURCE=…)"
!endif
!ifndef OUTFILE
  !define OUTFILE "Conclave-${VERSION}-setup.exe"
!endif

!define APP "Conclave"
!define EXE "Conclave.exe"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Conclave"
!define WEBVIEW2_KEY "Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://go.microsoft.com/fwlink/p/?LinkId=2124703"

Name "${APP}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
RequestExecutionLevel user
ShowInstDetails show
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=0 "ProductName" "${APP}"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileDescription" "${APP} setup"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "LegalCopyright" "Conclave"

!define MUI_ICON "..\icons\icon.ico"
!define MUI_UNICON "..\icons\icon.ico"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "German"

LangString NoWebView2 ${LANG_ENGLISH} "Conclave needs the Microsoft Edge WebView2 Runtime, which Windows 11 and current Windows 10 include. It was not found on this computer. Install it from Microsoft (${WEBVIEW2_URL}), then start Conclave."
LangString NoWebView2 ${LANG_GERMAN} "Conclave braucht die Microsoft Edge WebView2 Runtime, die zu Windows 11 und aktuellem Windows 10 gehört. Sie wurde auf diesem Computer nicht gefunden. Installieren Sie sie von Microsoft (${WEBVIEW2_URL}) und starten Sie dann Conclave."
LangString LinkName ${LANG_ENGLISH} "Conclave meeting link"
LangString LinkName ${LANG_GERMAN} "Conclave-Besprechungslink"

; Whether a WebView2 Runtime is registered (for all users, or for this one): its version, "pv".
Function HasWebView2
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\${WEBVIEW2_KEY}" "pv"
  StrCmp $0 "" 0 +2
  ReadRegStr $0 HKLM "SOFTWARE\${WEBVIEW2_KEY}" "pv"
  StrCmp $0 "" 0 +2
  ReadRegStr $0 HKCU "Software\${WEBVIEW2_KEY}" "pv"
  StrCmp $0 "0.0.0.0" 0 +2
  StrCpy $0 ""
FunctionEnd

Section "Conclave" Main
  SectionIn RO
  SetOutPath "$INSTDIR"
  File "${SOURCE}\${EXE}"
  File "${SOURCE}\*.dll"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0

  ; conclave:// links open Conclave (a second start hands its link to the running one).
  WriteRegStr HKCU "Software\Classes\conclave" "" "$(LinkName)"
  WriteRegStr HKCU "Software\Classes\conclave" "URL Protocol" ""
  WriteRegStr HKCU "Software\Classes\conclave\DefaultIcon" "" "$INSTDIR\${EXE},0"
  WriteRegStr HKCU "Software\Classes\conclave\shell\open\command" "" '"$INSTDIR\${EXE}" "%1"'

  ; Settings > Apps.
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "Conclave"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${EXE}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" "$0"

  Call HasWebView2
  StrCmp $0 "" 0 webview2_found
    DetailPrint "$(NoWebView2)"
    MessageBox MB_OK|MB_ICONINFORMATION "$(NoWebView2)" /SD IDOK
  webview2_found:
SectionEnd

; Removes what the installer put there. The settings and remembered rooms stay (in the user's
; AppData and the Windows Credential Manager): "Forget everything" in Conclave's settings removes
; them.
Section "Uninstall"
  Delete "$INSTDIR\${EXE}"
  Delete "$INSTDIR\*.dll"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${APP}.lnk"
  DeleteRegKey HKCU "Software\Classes\conclave"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
