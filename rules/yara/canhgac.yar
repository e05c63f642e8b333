/*
   canhgac.yar - canhgac's bundled YARA rule set.

   Written by the canhgac project for what a Vietnamese local-government
   network typically meets: test files, web shells on public web servers,
   script download cradles / LOLBins, Office macro droppers and ransomware
   notes.  The set is the project's own work (same licence as canhgac).

   Conventions (see README.md next to this file):
     * rule names start with CANHGAC_ and carry tags after the name;
     * every rule has meta: author, description, reference, date, severity
       (low / medium / high) and mitre_attack (technique id or "-");
     * no modules, no external variables: the file compiles as is with
       `yara -w canhgac.yar FILE` / `yarac canhgac.yar out.yarc`;
     * conditions pair a dangerous sink with attacker input on the same
       statement or within a few hundred bytes, so ordinary code and
       documents do not match.  Test samples: tests/data/yara/.
*/

// ---------------------------------------------------------------------------
// Test file
// ---------------------------------------------------------------------------

rule CANHGAC_EICAR_Test_File : test eicar
{
    meta:
        author = "canhgac project"
        description = "EICAR anti-malware test string (harmless; used to check that file scanning works end to end)"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        date = "2026-11-26"
        severity = "low"
        mitre_attack = "-"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*" ascii
    condition:
        $eicar
}

// ---------------------------------------------------------------------------
// PHP web shells
// ---------------------------------------------------------------------------

rule CANHGAC_Webshell_PHP_Eval_Request : webshell php
{
    meta:
        author = "canhgac project"
        description = "PHP web shell: eval()/assert() evaluates request input ($_GET/$_POST/$_REQUEST/$_COOKIE) directly or through decoding wrappers"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $php = "<?" ascii
        // eval( [@] [wrapper( ]{0,3} $_POST ...   e.g. eval(base64_decode($_POST['x']))
        $eval = /[^\w>$:]eval\s*\(\s*@?\s*([a-z0-9_]{1,24}\s*\(\s*@?\s*){0,3}\$_(GET|POST|REQUEST|COOKIE)\b/ nocase ascii
        // assert($_POST['x']) - string assert evaluates code (PHP < 8)
        $assert = /[^\w>$:]assert\s*\(\s*@?\s*(stripslashes\s*\(\s*|base64_decode\s*\(\s*|str_rot13\s*\(\s*|trim\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE)\b/ nocase ascii
    condition:
        $php and ($eval or $assert)
}

rule CANHGAC_Webshell_PHP_China_Chopper : webshell php chinachopper
{
    meta:
        author = "canhgac project"
        description = "China Chopper style PHP one-liner: <?php @eval($_POST['pass']);?>"
        reference = "https://attack.mitre.org/software/S0020/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $one = /<\?(php)?\s*@?eval\s*\(\s*@?\$_(POST|GET|REQUEST|COOKIE)\s*\[\s*['"]?[^'"\]\r\n]{1,32}['"]?\s*\]\s*\)\s*;?\s*\?>/ nocase ascii
    condition:
        $one
}

rule CANHGAC_Webshell_PHP_Exec_Request : webshell php
{
    meta:
        author = "canhgac project"
        description = "PHP web shell: OS command execution (system/passthru/shell_exec/exec/popen/proc_open/backticks) fed by request input"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $php = "<?" ascii
        // system($_GET['c']) / passthru(trim($_POST['c']))  (not ->exec(), not curl_exec())
        $direct = /[^\w>$:](system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*@?\s*([a-z0-9_]{1,24}\s*\(\s*){0,2}@?\$_(GET|POST|REQUEST|COOKIE)\b/ nocase ascii
        // `$_GET[c]` / `{$_POST['c']}`
        $backtick = /`\s*\{?\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase ascii
        // $_GET['f']($_GET['a'])  - function name and argument both from the request
        $dyncall = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\(\s*@?\$_(GET|POST|REQUEST|COOKIE)\b/ nocase ascii
        // $c = $_POST['c']; ... system($c);  (sink at most 150 bytes after the assignment)
        $assign = /\$[a-z_]\w{0,30}\s*=\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase ascii
        $sinkvar = /[^\w>$:](system|passthru|shell_exec|popen|proc_open|pcntl_exec)\s*\(\s*\$[a-z_]/ nocase ascii
    condition:
        $php and (
            $direct or $backtick or $dyncall or
            for any i in (1..#sinkvar) : ( $assign in (@sinkvar[i] - 150 .. @sinkvar[i]) )
        )
}

rule CANHGAC_Webshell_PHP_Obfuscated_Eval : webshell php obfuscation
{
    meta:
        author = "canhgac project"
        description = "PHP code that evaluates decoded/decompressed data: eval(base64_decode(...)), eval(gzinflate(...)), eval(str_rot13(...))"
        reference = "https://attack.mitre.org/techniques/T1027/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003, T1027"
    strings:
        $php = "<?" ascii
        $a = /[^\w>$:](eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|strrev|base64_decode|convert_uudecode|hex2bin)\s*\(/ nocase ascii
    condition:
        $php and $a
}

rule CANHGAC_Webshell_PHP_Preg_Replace_E : webshell php
{
    meta:
        author = "canhgac project"
        description = "PHP preg_replace() with the /e (eval) modifier and request input in the same call"
        reference = "https://www.php.net/manual/en/reference.pcre.pattern.modifiers.php"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $php = "<?" ascii
        $pe = /preg_replace\s*\(\s*["'][^"'\r\n]{1,80}[\/#~|!@%][imsxuADSUX]{0,8}e[imsxuADSUX]{0,8}["']\s*,/ ascii
        $in = /\$_(GET|POST|REQUEST|COOKIE)\b/ nocase ascii
    condition:
        $php and for any i in (1..#pe) : ( $in in (@pe[i] .. @pe[i] + 200) )
}

// ---------------------------------------------------------------------------
// ASP / ASPX / JSP web shells
// ---------------------------------------------------------------------------

rule CANHGAC_Webshell_ASP_Eval_Request : webshell asp aspx
{
    meta:
        author = "canhgac project"
        description = "ASP/ASPX web shell: eval/Execute/ExecuteGlobal of Request(...) input"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $asp = "<%" ascii
        // eval(Request("x")), Execute Request("x"), eval(Request.Item["x"],"unsafe") - not Server.Execute
        $a = /[^\w.](eval|execute|executeglobal)\s*(\(\s*)?request(\.(item|form|querystring|params))?\s*[\(\[]/ nocase ascii
    condition:
        $asp and $a
}

rule CANHGAC_Webshell_ASPX_China_Chopper : webshell aspx chinachopper
{
    meta:
        author = "canhgac project"
        description = "China Chopper ASPX one-liner: <%@ Page Language=\"Jscript\"%><%eval(Request.Item[\"pass\"],\"unsafe\");%>"
        reference = "https://attack.mitre.org/software/S0020/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $lang = /<%@\s*Page\s+Language\s*=\s*["']?Jscript/ nocase ascii
        $eval = /eval\s*\(\s*Request(\.Item)?\s*\[[^\]\r\n]{1,40}\]\s*,\s*["']unsafe["']\s*\)/ nocase ascii
    condition:
        $lang and $eval
}

rule CANHGAC_Webshell_ASPX_Process_Request : webshell aspx
{
    meta:
        author = "canhgac project"
        description = "ASPX web shell: System.Diagnostics.Process started with FileName/Arguments taken from Request input"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003, T1059.003"
    strings:
        $asp = "<%" ascii
        $ns1 = "System.Diagnostics" nocase ascii
        $ns2 = "ProcessStartInfo" nocase ascii
        $ns3 = "Process.Start" nocase ascii
        $p1 = /\.(FileName|Arguments)\s*=\s*[^;\r\n]{0,80}Request(\.(Form|QueryString|Params|Item))?\s*[\[\(]/ nocase ascii
        $p2 = /Process\.Start\s*\([^;\r\n]{0,80}Request(\.(Form|QueryString|Params|Item))?\s*[\[\(]/ nocase ascii
        $p3 = /ProcessStartInfo\s*\([^;\r\n]{0,80}Request(\.(Form|QueryString|Params|Item))?\s*[\[\(]/ nocase ascii
    condition:
        $asp and 1 of ($ns*) and 1 of ($p*)
}

rule CANHGAC_Webshell_JSP_Runtime_Exec : webshell jsp
{
    meta:
        author = "canhgac project"
        description = "JSP web shell: Runtime.getRuntime().exec() / ProcessBuilder fed by request.getParameter()"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1505.003"
    strings:
        $jsp1 = "<%" ascii
        $jsp2 = "jsp:scriptlet" ascii
        $direct = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(\s*request\s*\.\s*getParameter\s*\(/ ascii
        $pb = /new\s+ProcessBuilder\s*\([^;\r\n]{0,80}request\s*\.\s*getParameter\s*\(/ ascii
        $exec = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(/ ascii
        $param = /request\s*\.\s*getParameter\s*\(/ ascii
    condition:
        1 of ($jsp*) and (
            $direct or $pb or
            for any i in (1..#exec) : ( $param in (@exec[i] - 200 .. @exec[i]) )
        )
}

// ---------------------------------------------------------------------------
// PowerShell and living-off-the-land download / decode
// ---------------------------------------------------------------------------

rule CANHGAC_PS_Download_Cradle : powershell downloader
{
    meta:
        author = "canhgac project"
        description = "PowerShell download cradle: (New-Object Net.WebClient).DownloadString / Invoke-WebRequest / Invoke-RestMethod piped into IEX / Invoke-Expression"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1059.001, T1105"
    strings:
        // IEX (New-Object Net.WebClient).DownloadString('http://...')
        $wc1 = /(IEX|Invoke-Expression)[ \t]*(\([ \t]*){1,2}New-Object\s+(System\.)?Net\.WebClient\s*\)\s*\.\s*Download(String|Data)\s*\(/ nocase ascii wide
        // (New-Object Net.WebClient).DownloadString('http://...') | IEX
        $wc2 = /New-Object\s+(System\.)?Net\.WebClient\s*\)\s*\.\s*Download(String|Data)\s*\([^\r\n|]{1,200}\|\s*(IEX|Invoke-Expression)\b/ nocase ascii wide
        // Invoke-WebRequest http://... | IEX   /  (iwr http://...).Content | iex
        $iwr1 = /\b(Invoke-WebRequest|Invoke-RestMethod|iwr|irm)\s[^\r\n|]{1,200}\|\s*(IEX|Invoke-Expression)\b/ nocase ascii wide
        // IEX (Invoke-WebRequest http://...)  /  IEX (iwr ...).Content
        $iwr2 = /\b(IEX|Invoke-Expression)[ \t]*(\([ \t]*){1,2}(Invoke-WebRequest|Invoke-RestMethod|iwr|irm)\s/ nocase ascii wide
    condition:
        any of them
}

rule CANHGAC_PS_Encoded_Command : powershell obfuscation
{
    meta:
        author = "canhgac project"
        description = "powershell/pwsh started with -EncodedCommand (or an abbreviation: -e, -ec, -enc, ...) and a long base64 argument"
        reference = "https://attack.mitre.org/techniques/T1027/010/"
        date = "2026-11-26"
        severity = "medium"
        mitre_attack = "T1059.001, T1027.010"
    strings:
        $enc = /(powershell|pwsh)(\.exe)?["']?\s+([^\r\n]{0,120}\s)?[-\/]e(c|nc[a-z]{0,12})?\s+["']?[A-Za-z0-9+\/]{40,}/ nocase ascii wide
    condition:
        $enc
}

rule CANHGAC_PS_Base64_Invoke_Expression : powershell obfuscation
{
    meta:
        author = "canhgac project"
        description = "PowerShell decodes base64 ([Convert]::FromBase64String) and runs it with Invoke-Expression / IEX nearby"
        reference = "https://attack.mitre.org/techniques/T1140/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1059.001, T1140"
    strings:
        $b64 = "FromBase64String" nocase ascii wide
        $iex = /\b(IEX|Invoke-Expression)\b/ nocase ascii wide
    condition:
        for any i in (1..#b64) : ( $iex in (@b64[i] - 300 .. @b64[i] + 300) )
}

rule CANHGAC_LOLBin_Certutil_Download : lolbin certutil downloader
{
    meta:
        author = "canhgac project"
        description = "certutil used as a downloader: certutil -urlcache -split -f http://... (or -verifyctl)"
        reference = "https://attack.mitre.org/techniques/T1105/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1105"
    strings:
        $dl = /certutil(\.exe)?["']?\s+[^\r\n]{0,80}[-\/](urlcache|verifyctl)\b[^\r\n]{0,80}https?:\/\// nocase ascii wide
    condition:
        $dl
}

rule CANHGAC_LOLBin_Certutil_Decode : lolbin certutil
{
    meta:
        author = "canhgac project"
        description = "certutil -decode / -decodehex used to turn an encoded text file back into a binary"
        reference = "https://attack.mitre.org/techniques/T1140/"
        date = "2026-11-26"
        severity = "medium"
        mitre_attack = "T1140"
    strings:
        $dec = /certutil(\.exe)?["']?\s+[^\r\n]{0,40}[-\/]decode(hex)?\s+["']?[^\s"'-]/ nocase ascii wide
    condition:
        $dec
}

rule CANHGAC_LOLBin_Bitsadmin_Transfer : lolbin bitsadmin downloader
{
    meta:
        author = "canhgac project"
        description = "bitsadmin /transfer (or /addfile) fetching a remote http(s) URL"
        reference = "https://attack.mitre.org/techniques/T1197/"
        date = "2026-11-26"
        severity = "medium"
        mitre_attack = "T1197, T1105"
    strings:
        $bits = /bitsadmin(\.exe)?["']?\s+[^\r\n]{0,60}\/(transfer|addfile)\s[^\r\n]{0,200}https?:\/\// nocase ascii wide
    condition:
        $bits
}

rule CANHGAC_LOLBin_Mshta_Remote : lolbin mshta
{
    meta:
        author = "canhgac project"
        description = "mshta run on a remote http(s) URL or inline vbscript:/javascript: code"
        reference = "https://attack.mitre.org/techniques/T1218/005/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1218.005"
    strings:
        $mshta = /mshta(\.exe)?["']?\s+["']?(https?:\/\/|vbscript:|javascript:)/ nocase ascii wide
    condition:
        $mshta
}

// ---------------------------------------------------------------------------
// Office macro droppers
// ---------------------------------------------------------------------------

rule CANHGAC_Office_OOXML_Macro_Dropper : office macro dropper ooxml
{
    meta:
        author = "canhgac project"
        description = "OOXML (zip) document with a VBA project (vbaProject.bin) that has an auto-exec entry point and a shell/download call; only visible when the member is stored - scan extracted members too"
        reference = "https://attack.mitre.org/techniques/T1059/005/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1566.001, T1204.002, T1059.005"
    strings:
        $bin = "vbaProject.bin" nocase ascii
        $auto1 = "AutoOpen" nocase ascii
        $auto2 = "Auto_Open" nocase ascii
        $auto3 = "Document_Open" nocase ascii
        $auto4 = "Workbook_Open" nocase ascii
        $sus1 = "Shell" fullword ascii
        $sus2 = "WScript.Shell" nocase ascii
        $sus3 = "CreateObject" nocase ascii
        $sus4 = "URLDownloadToFile" nocase ascii
        $sus5 = "powershell" nocase ascii
    condition:
        uint32(0) == 0x04034B50 and $bin and 1 of ($auto*) and 1 of ($sus*)
}

rule CANHGAC_Office_OLE_Macro_Dropper : office macro dropper ole
{
    meta:
        author = "canhgac project"
        description = "OLE2 compound file (.doc/.xls/.ppt or an extracted vbaProject.bin) with a VBA project, an auto-exec entry point and a shell/download call"
        reference = "https://attack.mitre.org/techniques/T1059/005/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1566.001, T1204.002, T1059.005"
    strings:
        $vba1 = "_VBA_PROJECT" wide
        $vba2 = "_VBA_PROJECT" ascii
        $vba3 = "Attribute VB_Name" ascii
        $vba4 = { 41 74 74 72 69 62 75 74 00 65 20 56 42 5F }  // "Attribut\0e VB_" in MS-OVBA compressed source
        $auto1 = "AutoOpen" nocase ascii
        $auto2 = "Auto_Open" nocase ascii
        $auto3 = "Document_Open" nocase ascii
        $auto4 = "Workbook_Open" nocase ascii
        $sus1 = "Shell" fullword ascii
        $sus2 = "WScript.Shell" nocase ascii
        $sus3 = "CreateObject" nocase ascii
        $sus4 = "URLDownloadToFile" nocase ascii
        $sus5 = "powershell" nocase ascii
    condition:
        uint32(0) == 0xE011CFD0 and uint32(4) == 0xE11AB1A1 and
        1 of ($vba*) and 1 of ($auto*) and 1 of ($sus*)
}

// ---------------------------------------------------------------------------
// Ransomware notes
// ---------------------------------------------------------------------------

rule CANHGAC_Ransomware_Note : ransomware note
{
    meta:
        author = "canhgac project"
        description = "Ransom note text (English or Vietnamese): 'files have been encrypted' + decrypt + at least two of payment (bitcoin/BTC/wallet/ransom), Tor/.onion contact, personal ID"
        reference = "https://attack.mitre.org/techniques/T1486/"
        date = "2026-11-26"
        severity = "high"
        mitre_attack = "T1486"
    strings:
        // statement that files are encrypted
        $enc1 = /(your|all)( of your)?( important| personal)? (files|documents|data)( and [a-z]{1,20})? (have been|has been|are|were) (encrypted|locked)/ nocase ascii wide
        $enc_vi1 = "đã bị mã hóa" ascii
        $enc_vi2 = "đã bị mã hoá" ascii
        // decryption offer
        $dec1 = "decrypt" nocase ascii wide
        $dec_vi = "giải mã" ascii
        // payment
        $pay1 = /\b(bitcoin|BTC|monero|XMR)\b/ nocase ascii wide
        $pay2 = /\bbc1[a-z0-9]{25,59}\b/ ascii wide
        $pay3 = "ransom" nocase ascii wide
        $pay_vi = "tiền chuộc" ascii
        // contact over Tor
        $con1 = /\b[a-z2-7]{16}([a-z2-7]{40})?\.onion\b/ nocase ascii wide
        $con2 = "Tor Browser" nocase ascii wide
        // victim identifier
        $id1 = /(personal|unique|victim|client)[ _-]?(ID|identifier|code)\b/ nocase ascii wide
        $id2 = /\byour (ID|identifier)\b/ nocase ascii wide
        $id_vi1 = "ID cá nhân" ascii
        $id_vi2 = "mã định danh" ascii
    condition:
        filesize < 256KB and
        1 of ($enc*) and 1 of ($dec*) and (
            (1 of ($pay*) and 1 of ($con*)) or
            (1 of ($pay*) and 1 of ($id*)) or
            (1 of ($con*) and 1 of ($id*))
        )
}
