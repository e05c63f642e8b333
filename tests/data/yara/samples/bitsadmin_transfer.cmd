@rem canhgac YARA test sample - inert: exits at once; URLs are under the reserved .invalid TLD
@exit /b 0
bitsadmin /transfer canhgacjob /download /priority normal http://example.invalid/x.txt %TEMP%\x.txt
