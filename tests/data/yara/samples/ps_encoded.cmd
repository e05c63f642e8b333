@rem canhgac YARA test sample - inert: exits at once; URLs are under the reserved .invalid TLD
@exit /b 0
powershell.exe -NoProfile -WindowStyle Hidden -enc VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAnAGMAYQBuAGgAZwBhAGMAIAB0AGUAcwB0ACcA
