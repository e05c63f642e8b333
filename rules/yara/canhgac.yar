rule CANHGAC_EICAR_Test_File : test eicar
{
    meta:
        author = "canhgac project"
        description = "EICAR anti-malware test file"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        date = "2026-11-26"
        severity = "low"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0
}
