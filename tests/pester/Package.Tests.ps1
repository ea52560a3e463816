# The release form: .build/Package.ps1 (what build.ps1 -Task Package runs) makes a versioned module folder and
# a .nupkg; a user's Gallery install is replayed offline from a local folder repository with PSResourceGet in a
# child pwsh with its own HOME; one version number (Cargo.toml's) is carried by every part.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $toml = Get-Content -Raw (Join-Path $RepoRoot 'Cargo.toml')
    if ($toml -notmatch '(?ms)^\[workspace\.package\].*?^version\s*=\s*"([^"]+)"') { throw 'No [workspace.package] version in Cargo.toml.' }
    $script:Version = $Matches[1]
    $script:PackageDir = Join-Path $TestDrive 'package'
    $packageScript = Join-Path $RepoRoot '.build/Package.ps1'
    $r = Invoke-ChildPwsh -TimeoutSeconds 300 -Command "& '$packageScript' -ModuleDir '$ModulePath' -OutDir '$PackageDir' -Version '$Version'; if (-not `$?) { exit 1 }"
    $script:PackageOutput = $r.StdOut + $r.StdErr
    if ($r.ExitCode -ne 0) { throw "Package.ps1 failed (exit $($r.ExitCode)):`n$PackageOutput" }
    $script:Nupkg = Join-Path $PackageDir "d365fo.interactive.$Version.nupkg"
    $script:VersionDir = Join-Path $PackageDir "d365fo.interactive/$Version"
    $script:Rid = ($IsWindows ? 'win' : $IsMacOS ? 'osx' : 'linux') + '-' + [Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture.ToString().ToLowerInvariant()
    $script:LibName = $IsWindows ? 'd365fo_interactive.dll' : $IsMacOS ? 'libd365fo_interactive.dylib' : 'libd365fo_interactive.so'
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    function Get-NupkgEntries { $z = [IO.Compression.ZipFile]::OpenRead($Nupkg); try { @($z.Entries | ForEach-Object FullName) } finally { $z.Dispose() } }
    function Get-Nuspec {
        $z = [IO.Compression.ZipFile]::OpenRead($Nupkg)
        try {
            $e = $z.Entries | Where-Object FullName -eq 'd365fo.interactive.nuspec'
            $reader = [IO.StreamReader]::new($e.Open()); try { [xml]$reader.ReadToEnd() } finally { $reader.Dispose() }
        } finally { $z.Dispose() }
    }

}

Describe 'build.ps1 -Task Package' {
    It 'makes a versioned module folder with the manifest, assembly, help, license and native library' {
        foreach ($f in 'd365fo.interactive.psd1', 'd365fo.interactive.dll', 'LICENSE',
            'en-US/d365fo.interactive.dll-Help.xml', 'en-US/about_d365fo.interactive.help.txt', "runtimes/$Rid/native/$LibName") {
            Join-Path $VersionDir $f | Should -Exist
        }
        Join-Path $VersionDir 'help' | Should -Not -Exist -Because 'the markdown help sources are not shipped'
        $PackageOutput | Should -Match "carries native libraries for: $Rid"
        foreach ($stray in 'PSResourceGet', 'NuGet') {
            Join-Path (Get-Location) $stray | Should -Not -Exist -Because 'the publish must keep its per-user files in its private home'
        }
    }

    It 'makes a .nupkg with the module''s files' {
        $Nupkg | Should -Exist
        $entries = Get-NupkgEntries
        foreach ($f in 'd365fo.interactive.psd1', 'd365fo.interactive.dll', 'LICENSE',
            'en-US/d365fo.interactive.dll-Help.xml', 'en-US/about_d365fo.interactive.help.txt', "runtimes/$Rid/native/$LibName") {
            $entries | Should -Contain $f
        }
    }

    It 'adds other platforms'' native libraries from -ArtifactsDir' {
        $artifacts = Join-Path $TestDrive 'artifacts'
        foreach ($x in @(@('native-osx', 'osx-arm64', 'libd365fo_interactive.dylib'), @('native-win', 'win-x64', 'd365fo_interactive.dll'))) {
            New-Item -ItemType Directory -Force (Join-Path $artifacts "$($x[0])/runtimes/$($x[1])/native") | Out-Null
            Set-Content (Join-Path $artifacts "$($x[0])/runtimes/$($x[1])/native/$($x[2])") "stand-in for $($x[1])"
        }
        $out = Join-Path $TestDrive 'multi'
        $r = Invoke-ChildPwsh -TimeoutSeconds 300 -Command "& '$RepoRoot/.build/Package.ps1' -ModuleDir '$ModulePath' -OutDir '$out' -Version '$Version' -ArtifactsDir '$artifacts'"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'carries native libraries for: .*osx-arm64.*win-x64'
        Get-Content (Join-Path $out "d365fo.interactive/$Version/runtimes/osx-arm64/native/libd365fo_interactive.dylib") | Should -Be 'stand-in for osx-arm64'
        $z = [IO.Compression.ZipFile]::OpenRead((Join-Path $out "d365fo.interactive.$Version.nupkg"))
        try { @($z.Entries | ForEach-Object FullName) | Should -Contain 'runtimes/win-x64/native/d365fo_interactive.dll' } finally { $z.Dispose() }
    }

    It 'lists in the manifest''s FileList only files the package has, and links only to files of this repository' {
        $manifest = Import-PowerShellDataFile (Join-Path $VersionDir 'd365fo.interactive.psd1')
        foreach ($f in $manifest.FileList) { Join-Path $VersionDir $f | Should -Exist }
        (Get-Content -Raw (Join-Path $VersionDir 'LICENSE')) | Should -Match '^MIT License'
        $links = $manifest.PrivateData.PSData
        foreach ($uri in $links.LicenseUri, $links.ReleaseNotes) {
            $uri -match '^https://github\.com/d365collaborative/d365fo\.interactive/blob/main/(.+)$' | Should -BeTrue -Because "$uri is a file of this repository"
            Join-Path $RepoRoot $Matches[1] | Should -Exist -Because "$uri must point at a file of this repository"
        }
        $links.ProjectUri | Should -Be 'https://github.com/d365collaborative/d365fo.interactive'
    }

    It 'ships a native library without the test hooks (the forced panics of the test-hooks build)' {
        $bytes = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes((Join-Path $VersionDir "runtimes/$Rid/native/$LibName")))
        # The panic's message, the test operation's name, the hook tenants' suffix, the 0.1 switch's variable.
        $markers = 'forced panic', 'test_panic', 'hook.test', 'D365FO_TEST_HOOKS'
        foreach ($marker in $markers) { $bytes.Contains($marker) | Should -BeFalse -Because "'$marker' belongs to the test build only" }
        # The check can fail: the test-hooks build, when there, carries the first three.
        if ($env:D365FO_TEST_HOOKS_LIBRARY -and (Test-Path $env:D365FO_TEST_HOOKS_LIBRARY)) {
            $hooks = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($env:D365FO_TEST_HOOKS_LIBRARY))
            foreach ($marker in $markers[0..2]) { $hooks.Contains($marker) | Should -BeTrue -Because "the test build has '$marker'" }
        }
    }

    It 'refuses a built module whose version is not the one asked for' {
        $r = Invoke-ChildPwsh -Command "try { & '$RepoRoot/.build/Package.ps1' -ModuleDir '$ModulePath' -OutDir '$TestDrive/wrong' -Version '9.9.9'; 'NOT REFUSED' } catch { 'FAILED: ' + `$_.Exception.Message }"
        $r.StdOut | Should -Not -Match 'NOT REFUSED'
        $r.StdOut | Should -Match "manifest says version $([regex]::Escape($Version)), but the package is for 9\.9\.9"
    }

    # Elsewhere the publish runs under a private HOME; Windows keeps the store in the real LOCALAPPDATA.
    It 'leaves no repository registered for the user' -Skip:(-not $IsWindows) -Tag 'SkipReason: Windows only' {
        Get-PSResourceRepository | Where-Object Name -like 'd365fo-package-*' | Should -BeNullOrEmpty
    }

    It 'needs no VC++ redistributable on Windows (static CRT)' -Skip:(-not $IsWindows) -Tag 'SkipReason: Windows only' {
        $text = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes((Join-Path $VersionDir "runtimes/$Rid/native/$LibName")))
        $text | Should -Not -Match '(?i)vcruntime\d+\.dll'
        $text | Should -Not -Match '(?i)api-ms-win-crt-'
    }
}

Describe 'One version everywhere' {
    It 'is Cargo.toml''s [workspace.package] version in the <Part>' -ForEach @(
        @{ Part = 'built manifest' }
        @{ Part = 'packaged manifest' }
        @{ Part = 'nupkg' }
        @{ Part = 'assembly' }
        @{ Part = 'native core' }
        @{ Part = 'changelog' }
    ) {
        switch ($Part) {
            'built manifest' { (Import-PowerShellDataFile (Join-Path $ModulePath 'd365fo.interactive.psd1')).ModuleVersion | Should -Be $Version }
            'packaged manifest' { (Import-PowerShellDataFile (Join-Path $VersionDir 'd365fo.interactive.psd1')).ModuleVersion | Should -Be $Version }
            'nupkg' { (Get-Nuspec).package.metadata.version | Should -Be $Version }
            'assembly' {
                $dll = Join-Path $VersionDir 'd365fo.interactive.dll'
                [Reflection.AssemblyName]::GetAssemblyName($dll).Version.ToString(3) | Should -Be $Version
                [Diagnostics.FileVersionInfo]::GetVersionInfo($dll).FileVersion | Should -BeLike "$Version*"
            }
            'changelog' {
                Get-Content -Raw (Join-Path $RepoRoot 'CHANGELOG.md') | Should -Match ('(?m)^## \[' + [regex]::Escape($Version) + '\]')
            }
            'native core' {
                $r = Invoke-ChildPwsh -Command "Import-Module '$(Join-Path $VersionDir 'd365fo.interactive.psd1')'; [D365fo.Interactive.NativeCore]::Version"
                $r.StdOut.Trim() | Should -Be $Version
            }
        }
    }
}

Describe 'A Gallery install, offline' {
    BeforeAll {
        # A fresh user: its own HOME (and so its own PSResourceGet repositories and module folder).
        $script:UserHome = Join-Path $TestDrive 'user'
        # .NET answers "" for a per-user folder that does not exist (PSResourceGet would then use the current
        # directory), so make them as a real home has them.
        foreach ($d in '.local/share', '.config', '.cache') { New-Item -ItemType Directory -Force (Join-Path $UserHome $d) | Out-Null }
        $script:UserEnv = @{
            HOME = $UserHome; USERPROFILE = $UserHome; XDG_DATA_HOME = "$UserHome/.local/share"; XDG_CONFIG_HOME = "$UserHome/.config"
            XDG_CACHE_HOME = "$UserHome/.cache"; PSModulePath = $null; D365FO_NO_BROWSER = '1'
        }
        $script:Install = @"
`$ErrorActionPreference = 'Stop'; `$ProgressPreference = 'SilentlyContinue'
if (-not (Get-PSResourceRepository -Name d365fo-local-test -ErrorAction SilentlyContinue)) { Register-PSResourceRepository -Name d365fo-local-test -Uri '$PackageDir' -Trusted }
Install-PSResource -Name d365fo.interactive -Repository d365fo-local-test -Scope CurrentUser -TrustRepository
Import-Module d365fo.interactive

"@
    }

    It 'installs with Install-PSResource -Scope CurrentUser and imports by name' {
        $r = Invoke-ChildPwsh -Environment $UserEnv -TimeoutSeconds 300 -Command ($Install + @'
$m = Get-Module d365fo.interactive
"version=$($m.Version)"
"base=$($m.ModuleBase)"
"commands=$((Get-Command -Module d365fo.interactive).Count)"
"synopsis=$((Get-Help Get-D365ODataTokenInteractive).Synopsis)"
'@)
        $r.StdErr | Should -BeNullOrEmpty
        $r.StdOut | Should -Match "version=$([regex]::Escape($Version))"
        $r.StdOut | Should -Match ('base=' + [regex]::Escape($UserHome) + '.*d365fo\.interactive.' + [regex]::Escape($Version))
        $r.StdOut | Should -Match 'commands=([2-9]|\d\d)'
        # The synopsis of the help source, as built into the MAML the package carries.
        $source = Get-Content -Raw (Join-Path $RepoRoot 'module/help/Get-D365ODataTokenInteractive.md')
        $source -match '(?ms)^## SYNOPSIS\s*\r?\n(.+?)\r?\n\s*\r?\n' | Should -BeTrue
        $r.StdOut | Should -Match ('synopsis=' + [regex]::Escape(($Matches[1] -replace '\s+', ' ').Trim()))
        Join-Path $UserHome '.local/share/PSResourceGet' | Should -Exist -Because 'the repository store belongs in the private home'
        Join-Path (Get-Location) 'PSResourceGet' | Should -Not -Exist -Because 'no store may land in the working directory'
    }

    # Skipped only where the fake authority binary has not been built (evaluated at discovery, hence $env:).
    It 'signs in against the fake authority with the installed module' -Skip:(-not ($env:D365FO_TEST_FAKE_AUTHORITY -and (Test-Path $env:D365FO_TEST_FAKE_AUTHORITY))) -Tag 'SkipReason: needs the fake authority binary (build.ps1 -Task Test builds it)' {
        $authority = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        try {
            $envs = $UserEnv.Clone()
            $envs['D365FO_AUTHORITY'] = $authority.Url
            $r = Invoke-ChildPwsh -Environment $envs -TimeoutSeconds 300 -Command ($Install + @'
$token = Get-D365ODataTokenInteractive -Tenant 'contoso.onmicrosoft.com' -Url 'https://contoso.operations.dynamics.com' -Timeout 60 -EnableException
"from=$((Get-Command Get-D365ODataTokenInteractive).Module.ModuleBase)"
"bearer=$($token -match '^Bearer \S{20,}$')"
'@)
            $r.StdOut | Should -Match ("from=" + [regex]::Escape($UserHome)) -Because $r.StdErr
            $r.StdOut | Should -Match 'bearer=True' -Because $r.StdErr
        } finally {
            Stop-FakeAuthority $authority
        }
    }
}
