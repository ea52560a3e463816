# The README's main-job command lands here (build.ps1 -Task Demo): import the built module and show what it offers.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $FakeAuthority,
    [switch] $AutoApprove
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $ModulePath 'd365fo.interactive.psd1') -Force
Write-Host "d365fo.interactive $((Get-Module d365fo.interactive).Version), native core $([D365fo.Interactive.NativeCore]::Version) (ABI $([D365fo.Interactive.NativeCore]::AbiVersion))"
Get-Command -Module d365fo.interactive | Format-Table CommandType, Name -AutoSize | Out-Host
