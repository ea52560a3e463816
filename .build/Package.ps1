<#
.SYNOPSIS
Makes the release form of the built module: a versioned module folder and a .nupkg for the PowerShell Gallery.

.DESCRIPTION
Copies the built module (-ModuleDir) to <OutDir>/d365fo.interactive/<Version>/, adds the native libraries of
other platforms found under -ArtifactsDir (any runtimes/<rid>/native/<library> below it, as CI's per-platform
jobs upload them), and publishes that folder with PSResourceGet to <OutDir> as a local folder repository,
which leaves <OutDir>/d365fo.interactive.<Version>.nupkg.

PSResourceGet keeps its repository list per user. The publish therefore runs in a child pwsh whose HOME and
XDG folders point into a temporary folder (on Linux and macOS that makes it private), under a repository name
nobody else uses, and unregisters it afterwards.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleDir,
    [Parameter(Mandatory)] [string] $OutDir,
    [Parameter(Mandatory)] [string] $Version,
    [string] $ArtifactsDir
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ModuleName = 'd365fo.interactive'

$manifestPath = Join-Path $ModuleDir "$ModuleName.psd1"
if (-not (Test-Path $manifestPath)) { throw "No built module at $ModuleDir (missing $ModuleName.psd1); run build.ps1 first." }
$manifestVersion = (Import-PowerShellDataFile $manifestPath).ModuleVersion
if ($manifestVersion -ne $Version) { throw "The built module's manifest says version $manifestVersion, but the package is for $Version; rebuild." }

# 1. The versioned module folder, as Install-PSResource lays it out.
$OutDir = [IO.Path]::GetFullPath($OutDir)
$versionDir = Join-Path $OutDir "$ModuleName/$Version"
if (Test-Path $versionDir) { Remove-Item -Recurse -Force $versionDir }
New-Item -ItemType Directory -Force $versionDir | Out-Null
Copy-Item -Recurse -Path (Join-Path $ModuleDir '*') -Destination $versionDir

# 2. Native libraries of other platforms (CI uploads one runtimes/ tree per platform; they are merged here).
if ($ArtifactsDir) {
    if (-not (Test-Path $ArtifactsDir)) { throw "-ArtifactsDir $ArtifactsDir does not exist." }
    $libraries = Get-ChildItem -LiteralPath $ArtifactsDir -Recurse -File |
        Where-Object { $_.Name -in 'd365fo_interactive.dll', 'libd365fo_interactive.so', 'libd365fo_interactive.dylib' -and $_.Directory.Name -eq 'native' -and $_.Directory.Parent.Parent.Name -eq 'runtimes' }
    if (-not $libraries) { throw "-ArtifactsDir $ArtifactsDir holds no runtimes/<rid>/native/<library>." }
    $seen = @{}
    foreach ($lib in $libraries) {
        $rid = $lib.Directory.Parent.Name
        $hash = (Get-FileHash $lib.FullName).Hash
        if ($seen.ContainsKey($rid) -and $seen[$rid] -ne $hash) { throw "-ArtifactsDir holds two different native libraries for $rid." }
        $seen[$rid] = $hash
        $target = Join-Path $versionDir "runtimes/$rid/native"
        New-Item -ItemType Directory -Force $target | Out-Null
        Copy-Item -LiteralPath $lib.FullName -Destination (Join-Path $target $lib.Name) -Force
    }
}
$rids = @(Get-ChildItem (Join-Path $versionDir 'runtimes') -Directory | Sort-Object Name | ForEach-Object Name)
Write-Host "Package: $versionDir carries native libraries for: $($rids -join ', ')"

# 3. The .nupkg, published by PSResourceGet to $OutDir as a folder repository.
$nupkg = Join-Path $OutDir "$ModuleName.$Version.nupkg"
Remove-Item -LiteralPath $nupkg -ErrorAction SilentlyContinue
$scratch = Join-Path ([IO.Path]::GetTempPath()) ("d365fo-package-" + [guid]::NewGuid().ToString('n'))
New-Item -ItemType Directory -Force $scratch | Out-Null
$repoName = 'd365fo-package-' + [guid]::NewGuid().ToString('n').Substring(0, 12)
$publish = @"
`$ErrorActionPreference = 'Stop'
Import-Module Microsoft.PowerShell.PSResourceGet
Register-PSResourceRepository -Name '$repoName' -Uri '$OutDir' -Trusted
try { Publish-PSResource -Path '$(Join-Path $versionDir "$ModuleName.psd1")' -Repository '$repoName' }
finally { Unregister-PSResourceRepository -Name '$repoName' }
"@
$pwsh = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' })
$pwshArgs = @('-NoProfile', '-NonInteractive', '-EncodedCommand', [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($publish)))
if (-not (Test-Path $pwsh)) { $pwshArgs = @((Join-Path $PSHOME 'pwsh.dll')) + $pwshArgs; $pwsh = 'dotnet' }
$saved = @{}
$isolated = @{ HOME = $scratch; XDG_DATA_HOME = "$scratch/data"; XDG_CONFIG_HOME = "$scratch/config"; XDG_CACHE_HOME = "$scratch/cache" }
# .NET answers "" for a per-user folder that does not exist, and PSResourceGet then writes its store relative to
# the current directory: create them.
foreach ($d in $isolated.Values) { New-Item -ItemType Directory -Force $d | Out-Null }
try {
    foreach ($k in $isolated.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $isolated[$k]) }
    & $pwsh @pwshArgs
    if ($LASTEXITCODE -ne 0) { throw "Publish-PSResource failed (exit code $LASTEXITCODE)." }
} finally {
    foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
    Remove-Item -Recurse -Force $scratch -ErrorAction SilentlyContinue
}
if (-not (Test-Path $nupkg)) { throw "Publish-PSResource reported success but $nupkg is not there." }
Write-Host "Package: $nupkg"
