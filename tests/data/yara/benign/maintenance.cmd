@echo off
rem Maintenance helper: hash a file, list BITS jobs, run a signed script.
certutil -hashfile D:\setup\agent.msi SHA256
bitsadmin /list /allusers
powershell.exe -NoProfile -ExecutionPolicy Bypass -File D:\scripts\backup.ps1
