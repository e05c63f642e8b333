# canhgac YARA test sample - inert: exits at once; URLs are under the reserved .invalid TLD
exit
$s = [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('V3JpdGUtT3V0cHV0ICdjYW5oZ2FjIHRlc3Qn'))
Invoke-Expression $s
