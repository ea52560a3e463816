# Windows on a Linux machine (dot-sourced by build.ps1): the win-x64 library cross-built with mingw-w64, and the
# Windows tests run under Wine. The facts behind each step are in docs/building.md ("Windows from Linux").
#
# - Rust's std for x86_64-pc-windows-gnu is built from source (cargo -Zbuild-std, allowed on stable by
#   RUSTC_BOOTSTRAP=1) from Debian's rust-src package of the version rustc has, patched to resolve offline,
#   cached under the build cache (outside the clone), so a second run only checks a stamp.
# - The Windows tests get a Wine prefix of the run's own (never the person's ~/.wine), with a forwarder DLL for
#   ProcessPrng that exists only in that prefix, and PowerShell 7 for Windows (cached) for Pester.

Set-StrictMode -Version Latest

$script:WindowsGnuTarget = 'x86_64-pc-windows-gnu'
$script:WindowsPowerShellVersion = '7.6.9'
# What the cross build and the Wine tests need from apt (Debian 12): the mingw-w64 C toolchain (linker, and the
# C parts of ring) and Wine (64-bit) to run the test executables and PowerShell for Windows.
$script:WindowsAptPackages = @('gcc-mingw-w64-x86-64', 'mingw-w64-x86-64-dev', 'wine', 'wine64')

function Test-WindowsCrossTarget([string] $RustTarget) {
    # A Windows GNU target built from a Linux host (the MSVC targets and Windows hosts need none of this).
    (-not $IsWindows) -and $RustTarget -eq $script:WindowsGnuTarget
}

function Test-WindowsTools {
    # Whether the Windows part of -Task Test can run here: the tools apt installs (.ci/run installs them).
    $IsLinux -and [bool](Get-Command x86_64-w64-mingw32-gcc -ErrorAction SilentlyContinue) -and [bool](Get-Command wine -ErrorAction SilentlyContinue)
}

function Install-WindowsAptPackages {
    <# Installs the apt packages the Windows build and its Wine tests need, when some are missing. Needs root
       (as on CI); otherwise says exactly which command to run. #>
    $missing = @($script:WindowsAptPackages | Where-Object {
            $status = & dpkg-query -W -f='${Status}' $_ 2>$null
            "$status" -notmatch 'install ok installed'
        })
    if (-not $missing) { return }
    if ((& id -u) -ne '0') {
        throw "The Windows build needs the apt packages $($missing -join ', '), which are not installed, and this is not root: run 'sudo apt-get install -y --no-install-recommends $($missing -join ' ')' and try again."
    }
    Write-Host "Windows build: installing $($missing -join ', ') from apt"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    & apt-get update -qq
    if ($LASTEXITCODE) { throw "'apt-get update' failed (exit code $LASTEXITCODE); the Windows build needs $($missing -join ', ')." }
    & apt-get install -y -qq --no-install-recommends @missing | Out-Null
    if ($LASTEXITCODE) { throw "'apt-get install $($missing -join ' ')' failed (exit code $LASTEXITCODE)." }
}

function Get-RustcVersion {
    $v = "$(& rustc --version 2>&1)"
    if ($v -notmatch '^rustc (\d+\.\d+\.\d+)') { throw "Could not read rustc's version (rustc --version said '$v')." }
    $Matches[1]
}

function Install-WindowsRustStd {
    <# Debian's rust-src for this rustc (trixie-backports), unpacked and patched to build offline; returns the
       path of its library/ folder. The versions must match exactly: std's source of another release does not
       build with this compiler. #>
    param([Parameter(Mandatory)] [string] $CacheRoot)
    $rustc = Get-RustcVersion
    $dir = Join-Path $CacheRoot "windows/rust-src-$rustc"
    $library = Join-Path $dir "usr/src/rustc-$rustc/library"
    $stamp = Join-Path $dir 'stamp'
    $stampText = "rust-src $rustc patched v1"
    if ((Test-Path $stamp) -and (Get-Content -Raw $stamp).Trim() -eq $stampText -and (Test-Path (Join-Path $library 'std/Cargo.toml'))) { return $library }

    $archive = Get-AptArchiveUri
    $suite = 'trixie-backports'
    Write-Host "Windows build: Rust's std sources for rustc $rustc from Debian's $suite ($archive) into $dir"
    $work = Join-Path $CacheRoot 'windows/download'
    New-Item -ItemType Directory -Force $work | Out-Null
    $indexXz = Join-Path $work "$suite-all-Packages.xz"
    & curl -fsSL --retry 3 -o $indexXz "$archive/dists/$suite/main/binary-all/Packages.xz"
    if ($LASTEXITCODE) { throw "Could not download Debian's $suite package index from $archive (curl exit code $LASTEXITCODE); the Windows build needs its rust-src package." }
    $index = [IO.Path]::ChangeExtension($indexXz, $null).TrimEnd('.')
    & xz -dkf $indexXz
    if ($LASTEXITCODE) { throw "Could not decompress $indexXz." }
    $candidates = foreach ($stanza in ([IO.File]::ReadAllText($index) -split "`n`n")) {
        if ($stanza -notmatch '(?m)^Package: rust-src$') { continue }
        $f = @{}
        foreach ($line in $stanza -split "`n") { if ($line -match '^([A-Za-z0-9-]+): (.*)$') { $f[$Matches[1]] = $Matches[2] } }
        [pscustomobject]@{ Version = $f['Version']; Upstream = ($f['Version'] -replace '\+.*$', '' -replace '~.*$', ''); Filename = $f['Filename']; Sha256 = $f['SHA256'] }
    }
    $match = @($candidates | Where-Object Upstream -eq $rustc | Sort-Object Version)
    if (-not $match) {
        $have = @($candidates | ForEach-Object Upstream | Sort-Object -Unique) -join ', '
        throw "rustc is $rustc (rustup), but Debian's $suite has rust-src only for $(if ($have) { $have } else { 'no version' }): the Windows std cannot be built. Install the Rust that matches one of them ('rustup default <version>'), or wait until $suite has rust-src $rustc."
    }
    $pick = $match[-1]
    $deb = Join-Path $work ([IO.Path]::GetFileName($pick.Filename))
    if (-not (Test-Path $deb) -or (Get-FileHash -Algorithm SHA256 $deb).Hash -ne $pick.Sha256) {
        & curl -fsSL --retry 3 -o $deb "$archive/$($pick.Filename)"
        if ($LASTEXITCODE) { throw "Could not download $($pick.Filename) from $archive (curl exit code $LASTEXITCODE)." }
    }
    $hash = (Get-FileHash -Algorithm SHA256 $deb).Hash
    if ($hash -ne $pick.Sha256) { throw "$deb has SHA-256 $hash, but Debian's index says $($pick.Sha256); not using it." }
    if (Test-Path $dir) { Remove-Item -Recurse -Force $dir }
    & dpkg-deb -x $deb $dir
    if ($LASTEXITCODE) { throw "Could not unpack $deb." }
    if (-not (Test-Path (Join-Path $library 'std/Cargo.toml'))) { throw "$deb ($($pick.Version)) has no usr/src/rustc-$rustc/library/std: its layout changed." }

    # Offline resolution: the shipped lock file names crates that are not vendored (cc 1.2.0, rand 0.9,
    # rand_xorshift, windows-sys 0.60); only std's tests need them, so the test members and the
    # dev-dependencies go.
    Remove-Item -LiteralPath (Join-Path $library 'Cargo.lock') -ErrorAction Ignore
    foreach ($member in 'std', 'alloctests', 'coretests') {
        $toml = Join-Path $library "$member/Cargo.toml"
        if (-not (Test-Path $toml)) { continue }
        $text = [IO.File]::ReadAllText($toml) -replace '(?ms)^\[dev-dependencies\]\r?\n.*?(?=^\[|\z)', ''
        [IO.File]::WriteAllText($toml, $text)
    }
    $ws = Join-Path $library 'Cargo.toml'
    $text = [IO.File]::ReadAllText($ws)
    $patched = $text -replace '(?m)^\s*"(coretests|alloctests)",\r?\n', ''
    if ($patched -eq $text) { throw "$ws no longer lists coretests and alloctests as members: the patch for offline builds needs a look." }
    [IO.File]::WriteAllText($ws, $patched)
    Set-Content -LiteralPath $stamp -Value $stampText -NoNewline
    Remove-Item -LiteralPath $deb -ErrorAction Ignore
    $library
}

function Get-WindowsCrossCargoArguments {
    <# What cargo needs to build for x86_64-pc-windows-gnu here: the environment for -Zbuild-std (set in this
       process) and the extra arguments. With Debian's crates, one directory source holds both them and std's
       vendored crates (std's cc and shlex come from Debian's). #>
    param([Parameter(Mandatory)] [string] $CacheRoot, [string[]] $CrateArguments = @())
    Install-WindowsAptPackages
    $library = Install-WindowsRustStd -CacheRoot $CacheRoot
    $env:RUSTC_BOOTSTRAP = '1'
    $env:__CARGO_TESTS_ONLY_SRC_ROOT = $library
    # libgcc's unwinder and the C runtime linked in: the DLL then needs only DLLs every Windows has.
    $env:CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS = '-C target-feature=+crt-static'
    $env:CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER = 'x86_64-w64-mingw32-gcc'
    $extra = @('-Zbuild-std=std,panic_unwind')
    $configIndex = [array]::IndexOf($CrateArguments, '--config')
    if ($configIndex -ge 0) {
        $debianConfig = $CrateArguments[$configIndex + 1]
        if ((Get-Content -Raw $debianConfig) -notmatch '(?m)^directory = "([^"]+)"') { throw "$debianConfig names no directory source." }
        $registry = $Matches[1]
        $sources = Join-Path $CacheRoot "windows/sources-$(Get-RustcVersion)"
        $stamp = Join-Path $sources '.stamp'
        $want = "$registry|$library|$(@(Get-ChildItem $registry -Directory).Count)"
        if (-not (Test-Path $stamp) -or (Get-Content -Raw $stamp) -ne $want) {
            if (Test-Path $sources) { Remove-Item -Recurse -Force $sources }
            New-Item -ItemType Directory -Force $sources | Out-Null
            foreach ($d in Get-ChildItem $registry -Directory) { New-Item -ItemType SymbolicLink -Path (Join-Path $sources $d.Name) -Target $d.FullName | Out-Null }
            foreach ($d in Get-ChildItem (Join-Path $library 'vendor') -Directory) {
                $link = Join-Path $sources $d.Name
                if (Test-Path $link) { Remove-Item -Force $link }
                New-Item -ItemType SymbolicLink -Path $link -Target $d.FullName | Out-Null
            }
            Set-Content -LiteralPath $stamp -Value $want -NoNewline
        }
        $config = Join-Path $CacheRoot 'windows/cargo-windows.toml'
        Set-Content -LiteralPath $config -NoNewline -Value @"
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "$sources"

[net]
offline = true
"@
        $extra += @('--config', $config)
    } else {
        $extra += $CrateArguments
    }
    $extra
}

function Get-WindowsPath([string] $Path) {
    # The path Wine gives a Linux path (drive Z: is the Linux root).
    'Z:' + ([IO.Path]::GetFullPath($Path) -replace '/', '\')
}

function Get-WineEnvironment([string] $Prefix) {
    # Wine for tests: the run's own prefix, no debug noise, no Gecko (mshtml) prompt, our ProcessPrng forwarder
    # before any built-in, and .NET's W^X off (with it, importing PSFramework kills the runtime under Wine 8).
    [ordered]@{
        WINEPREFIX                      = $Prefix
        WINEDEBUG                       = '-all'
        WINEDLLOVERRIDES                = 'mshtml=;bcryptprimitives=n,b'
        DOTNET_EnableWriteXorExecute    = '0'
        DOTNET_CLI_TELEMETRY_OPTOUT     = '1'
        POWERSHELL_TELEMETRY_OPTOUT     = '1'
        POWERSHELL_UPDATECHECK          = 'Off'
    }
}

function Use-Environment([System.Collections.IDictionary] $Values, [scriptblock] $Script) {
    # Runs $Script with these variables set in this process (children inherit them), then puts the old back.
    $saved = @{}
    foreach ($k in $Values.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $Values[$k]) }
    try { & $Script } finally { foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) } }
}

function New-WineTestPrefix {
    <# A Wine prefix for this test run only (under out/, removed by the next run and by Clean), booted, with the
       ProcessPrng forwarder in its system32. Returns its path. #>
    param([Parameter(Mandatory)] [string] $OutDir)
    $prefix = Join-Path $OutDir 'wine-prefix'
    if (Test-Path $prefix) { Remove-Item -Recurse -Force $prefix }
    New-Item -ItemType Directory -Force $prefix | Out-Null
    $clock = [Diagnostics.Stopwatch]::StartNew()
    Use-Environment (Get-WineEnvironment $prefix) {
        & wineboot -i 2>&1 | Out-Null
        & wineserver -w
    }
    $system32 = Join-Path $prefix 'drive_c/windows/system32'
    if (-not (Test-Path $system32)) { throw "wineboot did not create a Wine prefix at $prefix." }
    $src = Join-Path $Root '.build/wine'
    & x86_64-w64-mingw32-gcc -shared -O2 -o (Join-Path $system32 'bcryptprimitives.dll') (Join-Path $src 'bcryptprimitives.c') (Join-Path $src 'bcryptprimitives.def') -ladvapi32
    if ($LASTEXITCODE) { throw 'Could not build the ProcessPrng forwarder for the Wine prefix (x86_64-w64-mingw32-gcc failed).' }
    Write-Host "Wine: test prefix $prefix ready in $([int]$clock.Elapsed.TotalSeconds) s"
    $prefix
}

function Install-WindowsPwsh {
    <# PowerShell 7 for Windows, to run under Wine: a self-contained win-x64 .NET host (published from
       .build/wine/pwsh-host.csproj, which pulls the Windows runtime packages from NuGet) with the real pwsh.dll,
       Modules/ and settings of the PowerShell tool package of the same version laid over it. Cached; returns
       the folder holding pwsh.exe. #>
    param([Parameter(Mandatory)] [string] $CacheRoot)
    $version = $script:WindowsPowerShellVersion
    $dir = Join-Path $CacheRoot "windows/pwsh-$version-win-x64"
    $stamp = Join-Path $dir '.stamp'
    if ((Test-Path $stamp) -and (Test-Path (Join-Path $dir 'pwsh.exe')) -and (Test-Path (Join-Path $dir 'Modules/Microsoft.PowerShell.Utility'))) { return $dir }
    Write-Host "Windows tests: PowerShell $version for Windows into $dir (from NuGet)"
    $work = Join-Path $CacheRoot "windows/pwsh-host-build"
    if (Test-Path $work) { Remove-Item -Recurse -Force $work }
    New-Item -ItemType Directory -Force $work | Out-Null
    Copy-Item (Join-Path $Root '.build/wine/pwsh-host.csproj'), (Join-Path $Root '.build/wine/Program.cs') $work
    & dotnet publish (Join-Path $work 'pwsh-host.csproj') -c Release -o $dir "-p:PowerShellVersion=$version" --nologo -v q -clp:NoSummary
    if ($LASTEXITCODE) { throw "Publishing PowerShell $version for Windows (win-x64) failed (exit code $LASTEXITCODE)." }
    # The tool package of the same version holds the real pwsh.dll and its files for Windows.
    $tool = Join-Path $CacheRoot "windows/powershell-tool-$version"
    $win = Join-Path $tool "powershell/$version/tools/net10.0/any/win"
    if (-not (Test-Path (Join-Path $win 'pwsh.dll'))) {
        $proj = Join-Path $tool 'restore.csproj'
        New-Item -ItemType Directory -Force $tool | Out-Null
        Set-Content -LiteralPath $proj -Value "<Project Sdk=`"Microsoft.NET.Sdk`"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup><ItemGroup><PackageDownload Include=`"PowerShell`" Version=`"[$version]`" /></ItemGroup></Project>"
        & dotnet restore $proj --packages $tool --nologo -v q
        if ($LASTEXITCODE -or -not (Test-Path (Join-Path $win 'pwsh.dll'))) { throw "The NuGet package PowerShell $version has no tools/net10.0/any/win/pwsh.dll." }
    }
    Copy-Item -Force (Join-Path $win 'pwsh.dll') $dir
    Copy-Item -Recurse -Force (Join-Path $win 'Modules') $dir
    Get-ChildItem $win -File -Filter '*.json' | Where-Object { $_.Name -notlike '*.deps.json' -and $_.Name -notlike '*.runtimeconfig.json' } | Copy-Item -Destination $dir -Force
    Remove-Item -Recurse -Force $work
    Set-Content -LiteralPath $stamp -Value $version -NoNewline
    $dir
}

function Invoke-WindowsCargoTest {
    <# The core's cargo tests built for Windows (dev profile, test-hooks, std from source) and run one
       executable at a time under Wine in the run's prefix, with the same polluted D365FO_* settings as the
       Linux run. Counts come from each executable's "test result:" line; one that ends without one (a crash)
       or fails to build counts as a failure. Returns the counts; failures and skips go to the run's lists. #>
    param([Parameter(Mandatory)] [string] $Prefix, [Parameter(Mandatory)] [System.Collections.IDictionary] $Polluted)
    $r = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0 }
    if ($null -eq $script:CargoArgs) { $script:CargoArgs = @(Get-CargoArguments) }
    $cross = @(Get-WindowsCrossCargoArguments -CacheRoot $CacheRoot -CrateArguments $script:CargoArgs)
    $build = @('test', '--no-run', '-p', 'd365fo_interactive', '--features', 'test-hooks', '--target', $script:WindowsGnuTarget,
        '--target-dir', (Join-Path $Root 'target/wintest'), '--message-format=json') + $cross
    Write-Host "cargo $($build -join ' ')"
    $json = & cargo @build
    $buildExit = $LASTEXITCODE
    $messages = @($json | ForEach-Object { try { $_ | ConvertFrom-Json } catch { } })
    # Warnings in our own code compiled for Windows (Linux's clippy never sees the Windows-only code) fail
    # the run, as clippy's -D warnings does on Linux.
    $ours = @($messages | Where-Object { $_.reason -eq 'compiler-message' -and "$($_.package_id)" -like 'path+file://*' -and $_.message.level -in 'warning', 'error' })
    foreach ($m in $ours) { Write-Host $m.message.rendered }
    $warnings = @($ours | Where-Object { $_.message.level -eq 'warning' -and $_.message.rendered -notmatch '^warning: \d+ warnings? emitted' })
    if ($warnings) { $r.Failed++; $script:FailureNotes.Add("Windows cargo test: $($warnings.Count) compiler warning(s) in the Windows build of our code") }
    if ($buildExit) {
        $r.Failed++; $script:FailureNotes.Add("Windows cargo test: the tests did not build for $($script:WindowsGnuTarget) (exit code $buildExit)")
        return $r
    }
    $exes = @($messages | Where-Object { $_.reason -eq 'compiler-artifact' -and $_.executable -and $_.profile.test } | ForEach-Object executable | Sort-Object -Unique)
    if (-not $exes) { $r.Failed++; $script:FailureNotes.Add('Windows cargo test: no test executable was built'); return $r }
    $envs = [ordered]@{}
    foreach ($k in (Get-WineEnvironment $Prefix).Keys) { $envs[$k] = (Get-WineEnvironment $Prefix)[$k] }
    foreach ($k in $Polluted.Keys) { $envs[$k] = $Polluted[$k] }
    Use-Environment $envs {
        foreach ($exe in $exes) {
            $name = [IO.Path]::GetFileNameWithoutExtension($exe) -replace '-[0-9a-f]{16}$', ''
            Write-Host "== Windows (Wine): $name"
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $out = & wine $exe 2>&1 | ForEach-Object { $s = "$_"; Write-Host $s; $s }
            $exit = $LASTEXITCODE
            $seen = $false
            foreach ($line in @($out)) {
                if ($line -match '^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored') {
                    $seen = $true; $r.Passed += [int]$Matches[1]; $r.Failed += [int]$Matches[2]
                } elseif ($line -match '^test (.+) \.\.\. FAILED$') {
                    $script:FailureNotes.Add("Windows cargo test: $name $($Matches[1])")
                } elseif ($line -match '^test (.+) \.\.\. ignored(?:, (.+))?$') {
                    $r.Skipped++
                    Add-Skip 'Windows cargo test' "$name $($Matches[1])" $(if ($Matches[2]) { $Matches[2].Trim() } else { '' })
                }
            }
            if (-not $seen) {
                $r.Failed++; $script:FailureNotes.Add("Windows cargo test: $name ended without a test result (exit code $exit)")
            }
            Write-Host "   (${name}: $([int]$clock.Elapsed.TotalSeconds) s under Wine)"
        }
        & wineserver -k 2>$null
    }
    Write-Host "Windows cargo test: $($r.Passed) passed, $($r.Failed) failed, $($r.Skipped) ignored"
    $r
}

function Start-LinuxTestService {
    # Starts a native Linux helper that prints "READY <url>" and ends when its standard input closes.
    param([Parameter(Mandatory)] [string] $Exe, [string[]] $Arguments = @())
    $psi = [Diagnostics.ProcessStartInfo]::new($Exe)
    foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    $null = $p.StandardError.ReadToEndAsync()
    $read = $p.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(30000) -or $read.Result -notmatch '^READY (https?://\S+)') { try { $p.Kill() } catch { }; throw "$Exe did not report READY (got '$($read.Result)')." }
    $null = $p.StandardOutput.ReadToEndAsync()
    [pscustomobject]@{ Url = $Matches[1].TrimEnd('/'); Process = $p }
}

function Stop-LinuxTestService($Service) {
    if (-not $Service) { return }
    try { $Service.Process.StandardInput.Close() } catch { }
    if (-not $Service.Process.WaitForExit(5000)) { $Service.Process.Kill() }
}

# The Pester files run under Wine: a deliberate subset (the whole suite is Linux's). Windows.Tests.ps1 covers
# sign-in, reuse, -Force, the token handed on, the registry store, help and d365fo.integrations in both orders;
# ModuleLoad.Tests.ps1 the import and the ABI check as on every platform.
$script:WinePesterFiles = @('tests/pester/ModuleLoad.Tests.ps1', 'tests/pester/WindowsLibrary.Tests.ps1', 'tests/pester/WindowsSignIn.Tests.ps1', 'tests/pester/Windows.Tests.ps1')

function Invoke-WindowsPester {
    <# Pester in PowerShell for Windows under Wine, in a pseudo-terminal, against the built module (its win-x64
       library), with the fake authority and the OData stand-in running natively on Linux. Watched like the
       Linux run (time limit, crashes). Returns the counts. #>
    param([Parameter(Mandatory)] [string] $Prefix, [Parameter(Mandatory)] [string] $PesterPath, [string[]] $Files = $script:WinePesterFiles)
    $pwshDir = Install-WindowsPwsh -CacheRoot $CacheRoot
    $authority = Start-LinuxTestService (Join-Path $Root 'target/release/fake_authority') @('--port', '0', '--exit-on-stdin-eof', '--interval', '1')
    $odataLog = Join-Path $Out "wine-odata-$PID.jsonl"
    $standIn = Start-LinuxTestService (Join-Path $PSHOME 'pwsh') @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/standin/odata-standin.ps1'), '-LogFile', $odataLog)
    try {
        $envs = [ordered]@{}
        $wine = Get-WineEnvironment $Prefix
        foreach ($k in $wine.Keys) { $envs[$k] = $wine[$k] }
        $envs['D365FO_TEST_MODULE'] = Get-WindowsPath $ModuleOut
        $envs['D365FO_TEST_REPO'] = Get-WindowsPath $Root
        $envs['D365FO_TEST_FAKE_AUTHORITY'] = $null
        $envs['D365FO_TEST_HOOKS_LIBRARY'] = $null
        $envs['D365FO_TEST_AUTHORITY_URL'] = $authority.Url
        $envs['D365FO_TEST_ODATA_URL'] = $standIn.Url
        $envs['D365FO_TEST_ODATA_LOG'] = Get-WindowsPath $odataLog
        $thirdParty = @($env:D365FO_THIRD_PARTY, (Join-Path $Root '../shared/third-party'), '/work/shared/third-party') | Where-Object { $_ -and (Test-Path (Join-Path $_ 'd365fo.integrations/d365fo.integrations.psd1')) } | Select-Object -First 1
        $envs['D365FO_THIRD_PARTY'] = if ($thirdParty) { Get-WindowsPath $thirdParty } else { $null }
        # The Linux values mean nothing to Windows (PowerShell would read ':'-separated paths as one).
        foreach ($k in 'PSModulePath', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'DISPLAY', 'WAYLAND_DISPLAY') { $envs[$k] = $null }
        $pty = @('bash', (Join-Path $Root '.build/wine/in-pty.sh'), 'wine', (Join-Path $pwshDir 'pwsh.exe'))
        $winFiles = @($Files | ForEach-Object { Get-WindowsPath (Join-Path $Root $_) })
        Use-Environment $envs {
            Invoke-PesterWatched -Files $winFiles -Pwsh $pty -PesterPath (Get-WindowsPath $PesterPath) -Runner (Get-WindowsPath (Join-Path $Root 'tests/Invoke-PesterRun.ps1')) -TimeoutSeconds (Get-TestTimeout) -PathSeparator ';'
            & wineserver -k 2>$null
        }
    } finally {
        Stop-LinuxTestService $standIn
        Stop-LinuxTestService $authority
        Remove-Item -LiteralPath $odataLog -ErrorAction Ignore
    }
}

function Invoke-WindowsTestPart {
    <# The Windows part of -Task Test on Linux: the win-x64 library built (release, as shipped), the core's tests
       under Wine, the Pester subset under Wine, all in a Wine prefix of this run's own. Returns the counts. #>
    param([Parameter(Mandatory)] [System.Collections.IDictionary] $Polluted, [Parameter(Mandatory)] [string] $PesterPath, [switch] $SkipCargoTests)
    $total = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0 }
    $clock = [Diagnostics.Stopwatch]::StartNew()
    Write-Host '== Windows (x86_64-pc-windows-gnu, tests under Wine)'
    $saved = $script:Target
    Step-Part 'Windows: the win-x64 library (and std on a first run) and the package'
    try {
        $script:Target = $script:WindowsGnuTarget
        Invoke-Build
    } finally { $script:Target = $saved }
    # One package for Linux and Windows: the module folder now carries both libraries, so the .nupkg must too.
    $pkgDir = Join-Path $Out 'package-check'
    & (Join-Path $Root '.build/Package.ps1') -ModuleDir $ModuleOut -OutDir $pkgDir -Version (Get-WorkspaceVersion) | Out-Host
    $nupkg = Get-ChildItem $pkgDir -Filter '*.nupkg' -ErrorAction Ignore | Select-Object -First 1
    $entries = if ($nupkg) { Add-Type -AssemblyName System.IO.Compression.FileSystem; $z = [IO.Compression.ZipFile]::OpenRead($nupkg.FullName); try { @($z.Entries | ForEach-Object FullName) } finally { $z.Dispose() } } else { @() }
    $want = 'runtimes/linux-x64/native/libd365fo_interactive.so', 'runtimes/win-x64/native/d365fo_interactive.dll'
    $missing = @($want | Where-Object { $_ -notin $entries })
    if ($nupkg -and -not $missing) { $total.Passed++; Write-Host "Package: one .nupkg ($($nupkg.Name)) with $($want -join ' and ')" }
    else { $total.Failed++; $script:FailureNotes.Add("Windows part: the package lacks $(if ($nupkg) { $missing -join ', ' } else { 'a .nupkg' })") }
    Remove-Item -Recurse -Force $pkgDir -ErrorAction Ignore
    Step-Part 'Windows: a Wine prefix of the run''s own'
    $prefix = @(New-WineTestPrefix -OutDir $Out)[-1]
    try {
        if (-not $SkipCargoTests) {
            Step-Part 'Windows: the core''s cargo tests under Wine'
            $c = @(Invoke-WindowsCargoTest -Prefix $prefix -Polluted $Polluted)[-1]
            $total.Passed += $c.Passed; $total.Failed += $c.Failed; $total.Skipped += $c.Skipped
        }
        Step-Part 'Windows: Pester in PowerShell for Windows under Wine'
        $p = @(Invoke-WindowsPester -Prefix $prefix -PesterPath $PesterPath)[-1]
        $total.Passed += $p.Passed; $total.Failed += $p.Failed; $total.Skipped += $p.Skipped
    } finally {
        Use-Environment (Get-WineEnvironment $prefix) { & wineserver -k 2>$null }
        Remove-Item -Recurse -Force $prefix -ErrorAction Ignore
    }
    Write-Host "Windows part: $($total.Passed) passed, $($total.Failed) failed, $($total.Skipped) skipped in $([int]$clock.Elapsed.TotalSeconds) s"
    $total
}
