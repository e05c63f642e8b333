# Nightly maintenance script for the unit's file server.
$ErrorActionPreference = 'Stop'
$url = 'https://updates.example.invalid/agent.zip'
Invoke-WebRequest -Uri $url -OutFile "$env:TEMP\agent.zip" -UseBasicParsing
$wc = New-Object Net.WebClient
$wc.DownloadFile('https://updates.example.invalid/list.txt', "$env:TEMP\list.txt")
$certBytes = [Convert]::FromBase64String((Get-Content "$PSScriptRoot\ca.b64" -Raw))
[IO.File]::WriteAllBytes("$env:TEMP\ca.cer", $certBytes)
Invoke-Command -ComputerName fs01 -ScriptBlock { Get-Service | Where-Object Status -eq 'Running' }
Get-ChildItem D:\Share -Recurse | Where-Object LastWriteTime -lt (Get-Date).AddDays(-90) | Remove-Item -WhatIf
