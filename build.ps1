<#
.SYNOPSIS
The one entry point to build, test, demonstrate and package d365fo.interactive.

.DESCRIPTION
Tasks:
  Build    (default) cargo build --release of the Rust workspace, dotnet build of dotnet-shim/, and the
           importable module assembled at out/d365fo.interactive/. Nothing that did not change is rebuilt.
  Lint     cargo fmt --all --check, cargo clippy --workspace --all-targets --release -- -D warnings, and the C#
           build with warnings as errors. Every part runs and prints PASS or FAIL with the command that fixes it;
           exits non-zero when any part fails.
  Test     Build, Lint, then cargo test (--no-fail-fast: every test binary runs; with the cargo feature
           test-hooks, in target/test, never in the shipped library), the C ABI tests under
           valgrind memcheck (Linux, when valgrind is installed) and the Pester suite (tests/pester) in a fresh
           pwsh against the built module. Ends with a line "N passed, N failed, N skipped" and a non-zero exit
           code on any failure; each failing lint part counts as one failure, but the tests still run so one run
           shows everything. Each Pester test has a time limit (-TestTimeoutSeconds). Every skipped test is
           listed at the end with its reason; a skip whose reason is not in tests/allowed-skips.txt (platform
           reasons) counts as a failure, not as a skip.
  Demo     Build, then a real device code sign-in with the module against the bundled local authority
           (no tenant needed). -AutoApprove approves by itself after a few seconds.
  Package  Build, then a versioned module folder and a .nupkg under out/package/.
  Bench    Build, then the benchmarks (tests/bench), printed as a markdown table.
  Clean    Remove every build output (out/, target/, .packages/, dotnet-shim/bin and obj).

Rust crates come from crates.io where it answers. Where it does not, they are provisioned from Debian's
archive into a cache outside the clone (~/.cache/d365fo.interactive). Force either with the environment
variable D365FO_CRATES=crates-io or D365FO_CRATES=debian.

.PARAMETER Task
Build (default), Lint, Test, Demo, Package, Bench or Clean.

.PARAMETER AutoApprove
Demo only: the local authority approves the sign-in by itself after a few seconds (for CI and unattended runs).

.PARAMETER TestPath
Test only: run just these Pester files or folders (default: all of tests/pester). Cargo tests run unless -SkipCargoTests.

.PARAMETER SkipCargoTests
Test only: skip cargo test (for a quick Pester-only iteration).

.PARAMETER SkipLint
Test only: skip the lint gate (for a quick iteration; CI does not pass it, so lint findings still fail CI).

.PARAMETER TestTimeoutSeconds
Test only: the time limit per Pester test in seconds (default: the environment variable
D365FO_TEST_TIMEOUT_SECONDS, else 300). When no test has started or finished for that long, build.ps1 kills
the test process, names the test that hung, counts it as a failure and runs the remaining test files in a
new process.

.PARAMETER TestHost
Test only: the PowerShell that runs Pester, pwsh (default) or WindowsPowerShell (powershell.exe 5.1, Windows
only; give it -TestPath files written for 5.1, as CI does).

.PARAMETER Target
Build the native library for this Rust target instead of the host, e.g. x86_64-apple-darwin on an arm64 Mac
or aarch64-unknown-linux-gnu (with a cross linker); it lands in runtimes/<rid>/native/ of the module.
On Windows MSVC targets the C runtime is linked statically (no VC++ redistributable needed).

.PARAMETER SkipWindows
Test only: leave out the Windows part (on Linux: the win-x64 build, the core's tests and a Pester subset under
Wine; see .build/Windows.ps1), which otherwise runs with every full Test run and with a -TestPath that names
tests/pester/Windows.Tests.ps1. Without mingw-w64 and Wine it
counts as a failure, as a missing valgrind does (.ci/run installs them).

.PARAMETER ArtifactsDir
Package only: a folder with other platforms' native libraries (any runtimes/<rid>/native/<library> below
it, as CI's per-platform jobs upload them) to put into the one multi-platform package.

.EXAMPLE
dotnet tool restore && dotnet tool run pwsh -File ./build.ps1 -Task Test

.EXAMPLE
dotnet tool restore && dotnet tool run pwsh -File ./build.ps1 -Task Demo
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Lint', 'Test', 'Demo', 'Package', 'Bench', 'Clean')]
    [string] $Task = 'Build',
    [switch] $AutoApprove,
    [string[]] $TestPath,
    [switch] $SkipCargoTests,
    [switch] $SkipLint,
    [int] $TestTimeoutSeconds,
    [ValidateSet('pwsh', 'WindowsPowerShell')]
    [string] $TestHost = 'pwsh',
    [string] $Target,
    [string] $ArtifactsDir,
    [switch] $SkipWindows
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleName = 'd365fo.interactive'
$ModuleOut = Join-Path $Out $ModuleName
$CacheRoot = if ($env:XDG_CACHE_HOME) { Join-Path $env:XDG_CACHE_HOME $ModuleName }
             elseif ($IsWindows) { Join-Path $env:LOCALAPPDATA $ModuleName }
             else { Join-Path $HOME ".cache/$ModuleName" }

. (Join-Path $Root '.build/DebianCrates.ps1')
. (Join-Path $Root '.build/Help.ps1')
. (Join-Path $Root '.build/Windows.ps1')

function Invoke-Native {
    # Runs a native command and stops the build when it fails.
    param([Parameter(Mandatory)] [string] $Command, [string[]] $Arguments = @())
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { throw "'$Command $($Arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Get-WorkspaceVersion {
    $toml = Get-Content -Raw (Join-Path $Root 'Cargo.toml')
    if ($toml -notmatch '(?ms)^\[workspace\.package\].*?^version\s*=\s*"([^"]+)"') { throw 'No [workspace.package] version in Cargo.toml.' }
    $Matches[1]
}

function Get-TargetOs {
    if ($Target) {
        if ($Target -match '-windows-') { return 'win' } elseif ($Target -match '-apple-darwin$') { return 'osx' } elseif ($Target -match '-linux-gnu') { return 'linux' }
        throw "-Target $Target is not one this module ships (Windows MSVC or GNU, Apple Darwin, Linux glibc)."
    }
    if ($IsWindows) { 'win' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
}

function Get-HostRid {
    # The RID of the platform the native library is built for: the host's, or -Target's.
    $arch = [Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture.ToString().ToLowerInvariant()
    if ($Target) {
        $arch = switch -Regex ($Target) { '^x86_64-' { 'x64' } '^aarch64-' { 'arm64' } '^i686-' { 'x86' } default { throw "-Target ${Target}: unknown processor." } }
    }
    "$(Get-TargetOs)-$arch"
}

function Get-NativeLibraryName {
    switch (Get-TargetOs) { 'win' { 'd365fo_interactive.dll' } 'osx' { 'libd365fo_interactive.dylib' } default { 'libd365fo_interactive.so' } }
}

function Get-CargoArguments {
    # Decides where crates come from: crates.io when it answers, else Debian's archive (see .build/DebianCrates.ps1).
    $mode = $env:D365FO_CRATES
    if (-not $mode) {
        $mode = 'debian'
        try {
            $null = Invoke-WebRequest -Uri 'https://index.crates.io/config.json' -TimeoutSec 5 -UseBasicParsing
            $mode = 'crates-io'
        } catch { }
        if ($IsWindows -or $IsMacOS) { $mode = 'crates-io' }  # Debian's copies strip Windows/macOS-only dependencies
    }
    switch ($mode) {
        'crates-io' { Write-Host 'Rust crates: from crates.io (plain cargo).'; return @() }
        'debian' { $config = Install-DebianCrates -CacheRoot (Join-Path $CacheRoot 'debian-crates'); return @('--config', $config) }
        default { throw "D365FO_CRATES must be 'crates-io' or 'debian', not '$mode'." }
    }
}

function Copy-IfChanged([string] $Source, [string] $Destination) {
    # Keeps out/ stable: a file is copied only when its content differs, so a second build touches nothing.
    if (Test-Path $Destination) {
        if ((Get-FileHash $Source).Hash -eq (Get-FileHash $Destination).Hash) { return }
    }
    New-Item -ItemType Directory -Force (Split-Path $Destination) | Out-Null
    Copy-Item -LiteralPath $Source -Destination $Destination -Force
}

function Set-ContentIfChanged([string] $Path, [string] $Value) {
    if ((Test-Path $Path) -and (Get-Content -Raw $Path) -ceq $Value) { return }
    New-Item -ItemType Directory -Force (Split-Path $Path) | Out-Null
    Set-Content -LiteralPath $Path -Value $Value -NoNewline -Encoding utf8
}

$script:CargoArgs = $null
function Invoke-Cargo([string[]] $Arguments) {
    if ($null -eq $script:CargoArgs) { $script:CargoArgs = @(Get-CargoArguments) }
    Invoke-Native cargo (@($Arguments) + $script:CargoArgs)
}

function Get-DotnetBuildArguments {
    # One definition for Build and Lint: the same arguments let Lint's build find Build's output up to date.
    @('build', (Join-Path $Root 'dotnet-shim/d365fo.interactive.csproj'), '-c', 'Release', "-p:Version=$(Get-WorkspaceVersion)", '--nologo', '-v', 'q', '-clp:NoSummary')
}

function Invoke-Build {
    $version = Get-WorkspaceVersion
    Write-Host "== Build d365fo.interactive $version$(if ($Target) { " for $Target" })"
    $cargoBuild = @('build', '--release', '--workspace')
    $cargoOutDir = 'target/release'
    if ($Target) { $cargoBuild += @('--target', $Target); $cargoOutDir = "target/$Target/release" }
    if (($Target -and $Target -match 'windows-msvc$') -or (-not $Target -and $IsWindows)) {
        # Static MSVC C runtime: the library then needs no VC++ redistributable on the user's machine.
        if ("$env:RUSTFLAGS" -notmatch 'crt-static') { $env:RUSTFLAGS = ("$env:RUSTFLAGS -C target-feature=+crt-static").Trim() }
    }
    if (Test-WindowsCrossTarget $Target) {
        # From Linux: only the core (the fake authority runs natively), std built from source (.build/Windows.ps1).
        if ($null -eq $script:CargoArgs) { $script:CargoArgs = @(Get-CargoArguments) }
        $cargoBuild = @('build', '--release', '-p', 'd365fo_interactive', '--target', $Target)
        Invoke-Native cargo ($cargoBuild + (Get-WindowsCrossCargoArguments -CacheRoot $CacheRoot -CrateArguments $script:CargoArgs))
    } else {
        Invoke-Cargo $cargoBuild
    }
    Invoke-Native dotnet (Get-DotnetBuildArguments)

    $rid = Get-HostRid
    $lib = Get-NativeLibraryName
    Copy-IfChanged (Join-Path $Root "$cargoOutDir/$lib") (Join-Path $ModuleOut "runtimes/$rid/native/$lib")
    Copy-IfChanged (Join-Path $Root 'dotnet-shim/bin/Release/netstandard2.0/d365fo.interactive.dll') (Join-Path $ModuleOut 'd365fo.interactive.dll')
    Copy-IfChanged (Join-Path $Root 'LICENSE') (Join-Path $ModuleOut 'LICENSE')
    # module/help holds markdown sources; Build-Help turns them into en-US/ files, so they are not shipped as is.
    $helpSources = Join-Path (Join-Path $Root 'module') 'help'
    Get-ChildItem (Join-Path $Root 'module') -File -Recurse | Where-Object { $_.Name -ne 'd365fo.interactive.psd1' -and -not $_.FullName.StartsWith($helpSources + [IO.Path]::DirectorySeparatorChar) } | ForEach-Object {
        Copy-IfChanged $_.FullName (Join-Path $ModuleOut ([IO.Path]::GetRelativePath((Join-Path $Root 'module'), $_.FullName)))
    }
    $manifest = (Get-Content -Raw (Join-Path $Root 'module/d365fo.interactive.psd1')) -replace "ModuleVersion\s*=\s*'[^']*'", "ModuleVersion        = '$version'"
    Set-ContentIfChanged (Join-Path $ModuleOut 'd365fo.interactive.psd1') $manifest
    Build-Help -SourceDir (Join-Path $Root 'module/help') -ModuleDir $ModuleOut
    Write-Host "Module: $ModuleOut"
}

function Invoke-Lint {
    <# The lint gate. Every part runs even after one failed, so a single run shows all findings; each prints one
       "lint <part>: PASS" or "lint <part>: FAIL" line saying what to run to fix it. Returns the failed parts.
       It changes no source file: fixing is left to the person reading the FAIL line. #>
    Write-Host '== Lint'
    if ($null -eq $script:CargoArgs) { $script:CargoArgs = @(Get-CargoArguments) }
    $failedParts = [Collections.Generic.List[string]]::new()
    function Write-LintResult([string] $Part, [bool] $Ok, [string] $Fix) {
        if ($Ok) { Write-Host "lint ${Part}: PASS" }
        else { Write-Host "lint ${Part}: FAIL - $Fix"; $failedParts.Add($Part) }
    }

    # rustfmt reads no dependency, so it needs none of the crate-source arguments. -l names the files that
    # are not formatted instead of printing every diff, which buries the rest of a test log.
    Write-Host 'cargo fmt --all --check -- -l (lists the files that need formatting)'
    & cargo fmt --all --check -- -l 2>&1 | ForEach-Object { Write-Host "$_" }
    Write-LintResult 'cargo fmt' ($LASTEXITCODE -eq 0) 'run "cargo fmt --all" to format the Rust code ("cargo fmt --all --check" shows the changes), then commit the result.'

    # The crate source arguments (--config for Debian's crates) go before "--": after it they would reach
    # clippy-driver. --release shares the release profile's dependency builds with Build and cargo test;
    # --keep-going still checks the crates that do not depend on one with findings.
    & cargo clippy --workspace --all-targets --release --keep-going --features d365fo_interactive/test-hooks @script:CargoArgs -- -D warnings 2>&1 | ForEach-Object { Write-Host "$_" }
    Write-LintResult 'cargo clippy' ($LASTEXITCODE -eq 0) ('fix the findings above; "cargo clippy --workspace --all-targets --release --fix' + $(if ($script:CargoArgs) { ' ' + ($script:CargoArgs -join ' ') }) + '" applies the mechanical ones.')

    # The C# build: the same command as Build (so it is up to date after Build and costs seconds), and the
    # project must still turn warnings into errors, or a clean build would say nothing about warnings.
    $csproj = Join-Path $Root 'dotnet-shim/d365fo.interactive.csproj'
    $warnAsError = "$(& dotnet msbuild $csproj -nologo -getProperty:TreatWarningsAsErrors -p:Configuration=Release 2>&1)".Trim()
    & dotnet @(Get-DotnetBuildArguments) 2>&1 | ForEach-Object { Write-Host "$_" }
    $built = $LASTEXITCODE -eq 0
    if ($warnAsError -ne 'true') { Write-Host "dotnet-shim: TreatWarningsAsErrors is '$warnAsError', not 'true'." }
    Write-LintResult 'dotnet build (warnings as errors)' ($built -and $warnAsError -eq 'true') 'fix the warnings and errors above ("dotnet build dotnet-shim -c Release" shows them); keep <TreatWarningsAsErrors>true</TreatWarningsAsErrors> in the csproj.'
    $failedParts.ToArray()
}

function Get-Pester {
    $version = '5.9.1'
    $packages = Join-Path $Root '.packages'
    $psd1 = Join-Path $packages "pester/$version/tools/Pester.psd1"
    if (-not (Test-Path $psd1)) {
        $proj = Join-Path $packages 'restore/pester.csproj'
        Set-ContentIfChanged $proj @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$version]" /></ItemGroup>
</Project>
"@
        Write-Host "Pester ${version}: restoring from NuGet into $packages"
        Invoke-Native dotnet @('restore', $proj, '--packages', $packages, '--nologo', '-v', 'q')
    }
    $psd1
}

function Get-PwshCommand {
    # A fresh pwsh for tests: the one running this script.
    $exe = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if (Test-Path $exe) { return @($exe) }
    $dll = Join-Path $PSHOME 'pwsh.dll'
    return @('dotnet', $dll)
}

function Invoke-ValgrindAbiTest {
    <# The C ABI test binaries (rust/d365fo_interactive/tests/ffi.rs and reliability_ffi.rs) under valgrind memcheck:
       zero errors and no definite leaks. Returns $true (passed), $false (failed) or, when skipped, the reason
       (a string, judged against tests/allowed-skips.txt like every other skip). #>
    if (-not $IsLinux) { Write-Host 'valgrind: skipped (Linux only)'; return 'Linux only' }
    if (-not (Get-Command valgrind -ErrorAction SilentlyContinue)) { Write-Host 'valgrind: skipped (valgrind is not installed; .ci/run installs it)'; return 'valgrind is not installed (.ci/run installs it)' }
    $tests = 'ffi', 'reliability_ffi'
    # The same arguments as the cargo test above, so nothing is rebuilt.
    $testArgs = @(Get-TestCargoArguments)
    $json = & cargo test --workspace --no-run --message-format=json @testArgs 2>$null
    $exes = @($json | ForEach-Object { try { $_ | ConvertFrom-Json } catch { } } |
        Where-Object { $_.reason -eq 'compiler-artifact' -and $_.executable -and $_.profile.test -and $_.target.name -in $tests } | ForEach-Object executable)
    if ($exes.Count -ne $tests.Count) { Write-Host "valgrind: FAILED, the ABI test binaries were not found ($($exes -join ', '))"; return $false }
    $ok = $true
    foreach ($exe in $exes) {
        Write-Host "valgrind: $exe"
        & valgrind --tool=memcheck --suppressions=$(Join-Path $Root ".build/valgrind.supp") --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite -q $exe --test-threads=1 2>&1 | ForEach-Object { Write-Host "$_" }
        if ($LASTEXITCODE -ne 0) { Write-Host "valgrind: FAILED on $exe (exit code $LASTEXITCODE)"; $ok = $false }
    }
    if ($ok) { Write-Host 'valgrind: no errors, no definite leaks' }
    $ok
}

$script:Skips = [Collections.Generic.List[object]]::new()      # every skipped or ignored test: Suite, Name, Reason
$script:FailureNotes = [Collections.Generic.List[string]]::new() # what failed, repeated at the end of a long log

function Add-Skip([string] $Suite, [string] $Name, [string] $Reason, [switch] $Unchecked) {
    # -Unchecked: the reason could not be read (a file stopped by the time limit); listed, not judged, as
    # that file has failed already.
    $allowed = if ($Unchecked) { $true } else { Test-SkipAllowed $Reason }
    $script:Skips.Add([pscustomobject]@{ Suite = $Suite; Name = $Name; Reason = $Reason; Allowed = $allowed; Unchecked = [bool]$Unchecked })
}

$script:AllowedSkips = $null
function Test-SkipAllowed([string] $Reason) {
    <# A skip passes only with a reason listed in tests/allowed-skips.txt (platform reasons such as "Windows only",
       optionally followed by an explanation in parentheses). Anything else, a missing tool included, would let
       a test go silent on a machine that should run it, so it counts as a failure. #>
    if (-not $Reason) { return $false }
    if ($null -eq $script:AllowedSkips) {
        $script:AllowedSkips = @(Get-Content -LiteralPath (Join-Path $Root 'tests/allowed-skips.txt') |
            ForEach-Object { $_.Trim() } | Where-Object { $_ -and -not $_.StartsWith('#') })
    }
    foreach ($pattern in $script:AllowedSkips) {
        if ($Reason -like $pattern -or $Reason -like "$pattern (*)") { return $true }
    }
    $false
}

function Get-TestCargoArguments {
    <# cargo test and the test-hooks library build into their own target folder, with the cargo feature
       test-hooks (the forced panics of tests/panic_boundary.rs and Reliability.Tests.ps1). The shipped library
       in target/release never has it, and neither build makes the other recompile. The profile ci-test
       (Cargo.toml) is dev-based: about a fifth of release's CPU time to compile, the same code under test. #>
    if ($null -eq $script:CargoArgs) { $script:CargoArgs = @(Get-CargoArguments) }
    @('--profile', 'ci-test', '--features', 'd365fo_interactive/test-hooks', '--target-dir', (Join-Path $Root 'target/test')) + $script:CargoArgs
}

function Build-TestHooksLibrary {
    # The library with the test-hooks feature, for the Pester test of a panic inside the core. Returns its path.
    Invoke-Native cargo (@('build', '-p', 'd365fo_interactive') + (Get-TestCargoArguments))
    Join-Path $Root "target/test/ci-test/$(Get-NativeLibraryName)"
}

$script:PollutedSettings = [ordered]@{
    D365FO_AUTHORITY = 'https://authority.from-the-shell.invalid'
    D365FO_ENDPOINT_VERSION = 'v2'
    D365FO_CLIENT_ID = '00000000-0000-0000-0000-00000000d365'
    D365FO_HTTP_TIMEOUT_SECS = '1'
    D365FO_NO_BROWSER = '1'
}

function Invoke-CargoTest {
    <# cargo test --no-fail-fast: every test binary runs even after one has failed. Counts come from the
       "test result:" lines. A binary that cargo reports as failed but that printed no failing result (it
       crashed: abort, segfault, exit() outside the harness) and a build that fails count as failures, so
       neither can pass for "zero tests". Ignored tests are recorded as skips with their #[ignore = "reason"].
       Returns the counts. #>
    Write-Host '== cargo test'
    if ($null -eq $script:CargoArgs) { $script:CargoArgs = @(Get-CargoArguments) }
    $r = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0 }
    $testArgs = @(Get-TestCargoArguments)
    # The core's tests must not depend on the developer's shell: they run with a value set for every
    # setting's variable, each different from the default (a flow that read the environment instead of the
    # settings it is given would now sign in elsewhere and fail). The developer's own values come back after.
    $polluted = $script:PollutedSettings
    $saved = @{}
    foreach ($k in $polluted.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $polluted[$k]) }
    Write-Host "cargo test runs with $(@($polluted.Keys) -join ', ') set to values other than the defaults"
    try {
        $out = & cargo test --workspace --no-fail-fast @testArgs 2>&1 | ForEach-Object { $s = "$_"; Write-Host $s; $s }
        $exit = $LASTEXITCODE
    } finally {
        foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
    }
    # Matched by counting, not by position: cargo's stderr ("Running ...", "error: test failed") and the
    # binaries' stdout reach us through two pipes, so their relative order is not guaranteed.
    $binariesWithFailures = 0; $failedTargets = 0
    $crashes = [Collections.Generic.List[string]]::new(); $buildErrors = [Collections.Generic.List[string]]::new()
    foreach ($line in @($out)) {
        if ($line -match '^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored') {
            $r.Passed += [int]$Matches[1]; $r.Failed += [int]$Matches[2]
            if ([int]$Matches[2] -gt 0) { $binariesWithFailures++ }
        } elseif ($line -match '^test (.+) \.\.\. FAILED$') {
            $script:FailureNotes.Add("cargo test: $($Matches[1])")
        } elseif ($line -match '^test (.+) \.\.\. ignored(?:, (.+))?$') {
            # libtest prints "ignored, <reason>" for #[ignore = "reason"] and a bare "ignored" otherwise.
            $r.Skipped++
            Add-Skip 'cargo test' $Matches[1] $(if ($Matches[2]) { $Matches[2].Trim() } else { '' })
        } elseif ($line -match '^error: (doc)?test failed, to rerun pass') {
            $failedTargets++
        } elseif ($line -match "process didn't exit successfully: (.+)$") {
            $crashes.Add($Matches[1])
        } elseif ($line -match '^error: could not compile|^error\[|^error: ') {
            $buildErrors.Add($line)
        }
    }
    if ($failedTargets -gt $binariesWithFailures) {
        $n = $failedTargets - $binariesWithFailures
        $r.Failed += $n
        $script:FailureNotes.Add("cargo test: $n test binar$(if ($n -eq 1) { 'y' } else { 'ies' }) ended without a test result (crashed): $($crashes -join '; ')")
    }
    if ($exit -ne 0 -and $r.Failed -eq 0) {
        # Nothing ran or nothing reported: a compile error, a bad argument, a missing crate.
        $r.Failed++
        $script:FailureNotes.Add("cargo test exited with $exit before any test failed: $(@($buildErrors | Select-Object -First 3) -join ' | ')")
    }
    Write-Host "cargo test: $($r.Passed) passed, $($r.Failed) failed, $($r.Skipped) ignored"
    $r
}

function Get-TestTimeout {
    # -TestTimeoutSeconds, else D365FO_TEST_TIMEOUT_SECONDS (for CI or a slow machine), else 300 s.
    $t = if ($TestTimeoutSeconds -gt 0) { $TestTimeoutSeconds } elseif ($env:D365FO_TEST_TIMEOUT_SECONDS) { [int]$env:D365FO_TEST_TIMEOUT_SECONDS } else { 300 }
    if ($t -le 0) { throw "The per-test time limit must be a positive number of seconds, not $t." }
    $env:D365FO_TEST_TIMEOUT_SECONDS = "$t"   # the runner reports it; tests may size their own waits below it
    $t
}

function Get-PesterTestFile([string[]] $Paths) {
    # Pester's own rule (every *.Tests.ps1 below a folder), applied here so that after a kill the files that
    # have not run are known and can be given to a new process.
    foreach ($p in $Paths) {
        if (Test-Path -LiteralPath $p -PathType Container) {
            Get-ChildItem -LiteralPath $p -Recurse -File -Filter '*.Tests.ps1' | Sort-Object FullName | ForEach-Object FullName
        } else { $p }
    }
}

function Invoke-PesterWatched {
    <# Runs tests/Invoke-PesterRun.ps1 in a child PowerShell and watches it: its output is streamed through
       here, and when no test has started or finished for -TimeoutSeconds, the child and everything it started
       are killed, the test that was running is named and counted as a failure, and a new child runs the files
       that had not started. A child that dies by itself (a crash in native code) is handled the same way.
       Returns the counts; failures and skips go to $script:FailureNotes and $script:Skips. #>
    param([string[]] $Files, [string[]] $Pwsh, [string] $PesterPath, [string] $Runner, [int] $TimeoutSeconds, [string] $PathSeparator = [IO.Path]::PathSeparator)
    $total = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0 }
    # Named for this build.ps1 process: a second run in the same checkout (a quick -TestPath while a full run
    # goes on) must not add its results to this one's. Kept as out/pester-result.jsonl at the end.
    $resultFile = Join-Path $Out "pester-result-$PID.jsonl"
    Remove-Item -LiteralPath $resultFile -ErrorAction SilentlyContinue
    New-Item -ItemType Directory -Force $Out | Out-Null
    # Colours for a person at a terminal; plain text for logs.
    $renderMode = if ([Console]::IsOutputRedirected -or $env:NO_COLOR) { 'Plaintext' } else { 'Ansi' }
    $pending = [Collections.Generic.List[string]]::new([string[]] $Files)
    $seenRecords = 0
    while ($pending.Count -gt 0) {
        $psi = [Diagnostics.ProcessStartInfo]::new($Pwsh[0])
        $arguments = @($Pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $Runner, '-PesterPath', $PesterPath,
            '-Path', ($pending -join $PathSeparator), '-ResultFile', $resultFile, '-RenderMode', $renderMode)
        foreach ($a in $arguments) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $psi.RedirectStandardOutput = $true   # stdin and stderr stay the terminal's, as before
        $psi.StandardOutputEncoding = [Text.UTF8Encoding]::new($false)
        $child = [Diagnostics.Process]::Start($psi)

        $file = $null        # the file the child runs now ("##[pester-file]" line)
        $blocks = [Collections.Generic.List[object]]::new()   # Describe/Context names with their indentation
        $running = $null     # a test that started ("[|]") and has not finished
        $lastDone = $null    # the last test that finished
        $partial = @{ Passed = 0; Failed = 0; Skipped = 0; FailedNames = @(); Skips = @() }   # of $file, from its output
        $quiet = [Diagnostics.Stopwatch]::StartNew()          # time since the last sign of progress
        $exited = $null; $killed = $false
        $read = $child.StandardOutput.ReadLineAsync()
        while ($true) {
            if ($read.Wait(250)) {
                $line = $read.Result
                if ($null -eq $line) { break }
                $read = $child.StandardOutput.ReadLineAsync()
                $plain = $line -replace "`e\[[0-9;?]*[A-Za-z]", '' -replace "`e\][^`a]*`a", ''
                if ($plain -match '^##\[pester-file\] (.+)$') {
                    $file = $Matches[1]; $blocks.Clear(); $running = $null; $lastDone = $null
                    $partial = @{ Passed = 0; Failed = 0; Skipped = 0; FailedNames = @(); Skips = @() }
                    $quiet.Restart(); continue
                }
                if ($plain -match '^\s*\[\|\] (.*)\.\.\.$') { $running = $Matches[1]; $quiet.Restart(); continue }   # for the watchdog only
                if ($plain -match '^(\s*)(?:Describing|Context) (.+)$') {
                    $indent = $Matches[1].Length
                    while ($blocks.Count -and $blocks[-1].Indent -ge $indent) { $blocks.RemoveAt($blocks.Count - 1) }
                    $blocks.Add([pscustomobject]@{ Indent = $indent; Name = $Matches[2] })
                    $quiet.Restart()
                } elseif ($running -and $plain -match '^\s*\[([-+!?])\] (.+)$') {
                    $name = (@($blocks | ForEach-Object Name) + $running) -join ' > '
                    switch ($Matches[1]) {
                        '+' { $partial.Passed++ }
                        '!' {
                            # Only Set-ItResult's reason shows in the output; a tag's is known once the file's record is written.
                            $reason = if ($Matches[2] -match 'is skipped, because (.+?) <?\d+(?:\.\d+)?m?s \(') { $Matches[1] } else { '' }
                            $partial.Skipped++; $partial.Skips += , @{ Name = $name; Reason = $reason }
                        }
                        default { $partial.Failed++; $partial.FailedNames += $name }
                    }
                    $lastDone = $name; $running = $null; $quiet.Restart()
                }
                Write-Host $line
                continue
            }
            if ($child.HasExited) {
                # Normally the pipe closes with the child; a process a test left behind can hold it open.
                if (-not $exited) { $exited = [Diagnostics.Stopwatch]::StartNew() } elseif ($exited.Elapsed.TotalSeconds -gt 2) { break }
                continue
            }
            if ($quiet.Elapsed.TotalSeconds -gt $TimeoutSeconds) {
                $where = if ($file) { [IO.Path]::GetFileName($file) } else { 'Pester start-up' }
                $what = if ($running) { "'$((@($blocks | ForEach-Object Name) + $running) -join ' > ')' started and did not finish" }
                        elseif ($lastDone) { "after '$lastDone', in a BeforeAll/AfterAll or the next block's set-up" }
                        else { 'before its first test (discovery or a BeforeAll)' }
                Write-Host "TIME LIMIT: nothing finished for $TimeoutSeconds s in ${where}: $what. Killing the test process and what it started; the rest of this file does not run, the files after it go on in a new process."
                $script:FailureNotes.Add("time limit ($TimeoutSeconds s): ${where}: $what")
                $total.Failed++
                $killed = $true
                try { $child.Kill($true) } catch { }
                break
            }
        }
        $null = $child.WaitForExit(10000)

        # What finished files reported (a restarted child appends to the same file).
        $records = @(if (Test-Path -LiteralPath $resultFile) { Get-Content -LiteralPath $resultFile -Encoding utf8 | Where-Object { $_.Trim() } | Select-Object -Skip $seenRecords | ForEach-Object { $_ | ConvertFrom-Json } })
        $seenRecords += $records.Count
        foreach ($r in $records) {
            $script:PesterFileTimes.Add([pscustomobject]@{ File = [IO.Path]::GetFileName($r.File); Seconds = [double]$r.Seconds })
            $total.Passed += $r.Passed; $total.Failed += $r.Failed; $total.Skipped += $r.Skipped
            foreach ($n in @($r.FailedNames)) { $script:FailureNotes.Add("Pester: $([IO.Path]::GetFileName($r.File)): $n") }
            foreach ($s in @($r.Skips)) { Add-Skip 'Pester' "$([IO.Path]::GetFileName($r.File)): $($s.Name)" $s.Reason }
            $null = $pending.Remove($r.File)
        }
        if ($file -and $pending.Contains($file)) {
            # The child stopped inside $file: killed above, or it died. Count what its output showed.
            if (-not $killed) {
                $code = try { $child.ExitCode } catch { '?' }
                Write-Host "The test process ended (exit code $code) while running $([IO.Path]::GetFileName($file)); the rest of this file does not run, the files after it go on in a new process."
                $script:FailureNotes.Add("Pester: $([IO.Path]::GetFileName($file)): the test process ended (exit code $code) before the file finished$(if ($running) { ", in '$running'" })")
                $total.Failed++
            }
            $total.Passed += $partial.Passed; $total.Failed += $partial.Failed; $total.Skipped += $partial.Skipped
            foreach ($n in $partial.FailedNames) { $script:FailureNotes.Add("Pester: $([IO.Path]::GetFileName($file)): $n") }
            foreach ($s in $partial.Skips) {
                if ($s.Reason) { Add-Skip 'Pester' "$([IO.Path]::GetFileName($file)): $($s.Name)" $s.Reason }
                else { Add-Skip 'Pester' "$([IO.Path]::GetFileName($file)): $($s.Name)" 'reason not read: the file did not finish' -Unchecked }
            }
            $null = $pending.Remove($file)
        } elseif ($records.Count -eq 0) {
            # No file started or finished: the runner itself failed (Pester missing, a bad argument) or hung
            # before the first file. Starting it again would fail the same way, so stop here.
            $code = try { $child.ExitCode } catch { '?' }
            if (-not $killed) { Write-Host "Pester did not report a result (exit code $code)."; $total.Failed++ }
            $script:FailureNotes.Add("Pester did not report a result (exit code $code); files not run: $(@($pending | ForEach-Object { [IO.Path]::GetFileName($_) }) -join ', ')")
            break
        }
    }
    if (Test-Path -LiteralPath $resultFile) { Move-Item -Force -LiteralPath $resultFile -Destination (Join-Path $Out 'pester-result.jsonl') }
    $total
}

$script:PartTimes = [Collections.Generic.List[object]]::new()   # each part of a Test run and how long it took
$script:PartClock = $null
function Step-Part([string] $Name) {
    # Ends the part that was running (if any) and starts $Name; $null ends the last one. The table printed at
    # the end of a Test run shows where the time goes, so the next slowdown is seen where it starts.
    if ($script:PartClock) { $script:PartTimes.Add([pscustomobject]@{ Part = $script:PartName; Seconds = $script:PartClock.Elapsed.TotalSeconds }) }
    $script:PartName = $Name
    $script:PartClock = if ($Name) { [Diagnostics.Stopwatch]::StartNew() } else { $null }
}

$script:PesterFileTimes = [Collections.Generic.List[object]]::new()   # Pester files that finished, slowest first at the end
function Write-PesterFileTimes {
    if (-not $script:PesterFileTimes.Count) { return }
    Write-Host 'Pester files by time:'
    foreach ($t in @($script:PesterFileTimes | Sort-Object Seconds -Descending)) { Write-Host ('  {0,7:N0} s  {1}' -f $t.Seconds, $t.File) }
}

function Write-PartTimes {
    if (-not $script:PartTimes.Count) { return }
    $total = ($script:PartTimes | Measure-Object Seconds -Sum).Sum
    Write-Host "Time by part (total $([math]::Round($total)) s):"
    foreach ($t in $script:PartTimes) { Write-Host ('  {0,7:N0} s  {1}' -f $t.Seconds, $t.Part) }
}

function Invoke-Test {
    Step-Part 'build'
    Invoke-Build
    $passed = 0; $failed = 0; $skipped = 0
    # Lint findings are failures of the run, but the tests still run: one run shows everything.
    $lintFailed = @(if (-not $SkipLint) { Step-Part 'lint (fmt, clippy, C# warnings)'; Invoke-Lint })
    $failed += $lintFailed.Count
    foreach ($part in $lintFailed) { $script:FailureNotes.Add("lint: $part") }
    if (-not $SkipCargoTests) {
        Step-Part 'cargo test'
        $cargo = Invoke-CargoTest
        $passed += $cargo.Passed; $failed += $cargo.Failed; $skipped += $cargo.Skipped

        Step-Part 'valgrind memcheck'
        Write-Host '== valgrind memcheck of the C ABI tests'
        $memcheck = @(Invoke-ValgrindAbiTest)[-1]   # its last output is the verdict
        if ($memcheck -is [string]) { $skipped++; Add-Skip 'valgrind' 'memcheck of the C ABI tests' $memcheck }
        elseif ($memcheck) { $passed++ }
        else { $failed++; $script:FailureNotes.Add('valgrind memcheck of the C ABI tests') }
    }

    Step-Part 'Pester and the test set-up'
    Write-Host '== Pester'
    $pester = Get-Pester
    $paths = if ($TestPath) { $TestPath | ForEach-Object { $_ -split "," } | ForEach-Object { (Resolve-Path $_).Path } } else { @(Join-Path $Root 'tests/pester') }
    $runner = Join-Path $Root 'tests/Invoke-PesterRun.ps1'
    $pwsh = @(Get-PwshCommand)
    $env:D365FO_TEST_MODULE = $ModuleOut
    $env:D365FO_TEST_FAKE_AUTHORITY = Join-Path $Root ('target/release/fake_authority' + ($IsWindows ? '.exe' : ''))
    $env:D365FO_TEST_REPO = $Root
    Step-Part 'the test-hooks library (for Pester)'
    $env:D365FO_TEST_HOOKS_LIBRARY = Build-TestHooksLibrary
    Step-Part 'Pester (Linux)'
    if ($TestHost -eq 'WindowsPowerShell') {
        if (-not $IsWindows) { throw '-TestHost WindowsPowerShell needs Windows.' }
        $pwsh = @('powershell.exe')
    }
    $files = @(Get-PesterTestFile $paths)
    $pesterResult = Invoke-PesterWatched -Files $files -Pwsh $pwsh -PesterPath $pester -Runner $runner -TimeoutSeconds (Get-TestTimeout)
    $passed += $pesterResult.Passed; $failed += $pesterResult.Failed; $skipped += $pesterResult.Skipped
    if ($IsLinux -and -not $SkipWindows -and (-not $TestPath -or @($files | Where-Object { $_ -like '*Windows*.Tests.ps1' }))) {
        # The Windows part (.build/Windows.ps1): the win-x64 library, the core's tests and Pester under Wine.
        if (Test-WindowsTools) {
            $win = @(Invoke-WindowsTestPart -Polluted $script:PollutedSettings -PesterPath $pester -SkipCargoTests:$SkipCargoTests)[-1]
            $passed += $win.Passed; $failed += $win.Failed; $skipped += $win.Skipped
        } else {
            Write-Host 'Windows part: skipped (mingw-w64 and Wine are not installed; .ci/run installs them)'
            $skipped++
            Add-Skip 'Windows' 'the win-x64 build and its tests under Wine' 'mingw-w64 and Wine are not installed (.ci/run installs them)'
        }
    }
    Step-Part $null
    Write-Host ''
    Write-PartTimes
    Write-PesterFileTimes
    if ($script:Skips.Count) {
        # Every skip with its reason, at the end where it is seen: a skip is a test that said nothing. One whose
        # reason is not in tests/allowed-skips.txt is a failure (counted once, as failed instead of skipped).
        Write-Host "Skipped ($($script:Skips.Count)); reasons not in tests/allowed-skips.txt fail the run:"
        foreach ($s in $script:Skips) {
            $reason = if ($s.Reason) { $s.Reason } else { '(no reason given)' }
            Write-Host "  $(if ($s.Unchecked) { 'unchecked  ' } elseif ($s.Allowed) { 'allowed    ' } else { 'NOT ALLOWED' }) [$($s.Suite)] $($s.Name): $reason"
            if (-not $s.Allowed) {
                $skipped--; $failed++
                $script:FailureNotes.Add("skip not allowed: [$($s.Suite)] $($s.Name): $reason")
            }
        }
    }
    if ($script:FailureNotes.Count) {
        Write-Host "Failed ($($script:FailureNotes.Count) listed):"
        foreach ($n in $script:FailureNotes) { Write-Host "  $n" }
    }
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-Demo {
    Invoke-Build
    & (Join-Path $Root 'tests/demo/Start-Demo.ps1') -ModulePath $ModuleOut -FakeAuthority (Join-Path $Root ('target/release/fake_authority' + ($IsWindows ? '.exe' : ''))) -AutoApprove:$AutoApprove
    if (-not $?) { exit 1 }
}

function Invoke-Clean {
    foreach ($p in @($Out, (Join-Path $Root 'target'), (Join-Path $Root '.packages'), (Join-Path $Root 'dotnet-shim/bin'), (Join-Path $Root 'dotnet-shim/obj'))) {
        if (Test-Path $p) { Write-Host "Removing $p"; Remove-Item -Recurse -Force $p }
    }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Lint' {
        $lintFailed = @(Invoke-Lint)
        if ($lintFailed.Count) { Write-Host "Lint failed: $($lintFailed -join ', ')"; exit 1 }
        Write-Host 'Lint passed.'
    }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Package' {
        Invoke-Build
        $packageArgs = @{ ModuleDir = $ModuleOut; OutDir = (Join-Path $Out 'package'); Version = (Get-WorkspaceVersion) }
        if ($ArtifactsDir) { $packageArgs.ArtifactsDir = (Resolve-Path $ArtifactsDir).Path }
        & (Join-Path $Root '.build/Package.ps1') @packageArgs
        if (-not $?) { exit 1 }
    }
    'Bench' { Invoke-Build; & (Join-Path $Root 'tests/bench/Invoke-Bench.ps1') -ModulePath $ModuleOut -FakeAuthority (Join-Path $Root ('target/release/fake_authority' + ($IsWindows ? '.exe' : ''))); if (-not $?) { exit 1 } }
    'Clean' { Invoke-Clean }
}
