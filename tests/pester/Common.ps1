# Shared by every test file (dot-sourced in BeforeAll): where the built module and the fake authority are,
# and how to run a child pwsh. build.ps1 -Task Test sets the D365FO_TEST_* variables.

$script:ModulePath = $env:D365FO_TEST_MODULE
if (-not $script:ModulePath -or -not (Test-Path $script:ModulePath)) {
    throw 'D365FO_TEST_MODULE does not point at the built module; run the tests with ./build.ps1 -Task Test.'
}
$script:ModuleManifest = Join-Path $script:ModulePath 'd365fo.interactive.psd1'
$script:FakeAuthorityExe = $env:D365FO_TEST_FAKE_AUTHORITY
$script:RepoRoot = $env:D365FO_TEST_REPO
$script:PwshExe = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')

function Invoke-ChildPwsh {
    <# Runs a script block's text in a fresh pwsh (a native library or a failed import cannot be undone in
       this process) and returns its exit code, stdout and stderr. #>
    param(
        [Parameter(Mandatory)] [string] $Command,
        [hashtable] $Environment = @{},
        [int] $TimeoutSeconds = 120
    )
    $psi = [Diagnostics.ProcessStartInfo]::new($script:PwshExe)
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($Command))
    foreach ($a in @('-NoProfile', '-NonInteractive', '-EncodedCommand', $encoded)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $psi.Environment['TERM'] = 'dumb'
    $psi.Environment['NO_COLOR'] = '1'
    foreach ($k in $Environment.Keys) {
        if ($null -eq $Environment[$k]) { $psi.Environment.Remove($k) | Out-Null } else { $psi.Environment[$k] = [string]$Environment[$k] }
    }
    # Under Wine, starting a process fails now and then before the child runs anything ("Internal error", seen
    # once in a CI run): a start that failed so is tried again, at most twice. Nothing of the test has run then.
    $p = $null
    foreach ($try in 1..3) {
        try { $p = [Diagnostics.Process]::Start($psi); break }
        catch {
            $startFailed = $_.Exception -is [ComponentModel.Win32Exception] -or $_.Exception.InnerException -is [ComponentModel.Win32Exception]
            if (-not ($IsWindows -and $startFailed) -or $try -eq 3) { throw }
            Start-Sleep -Milliseconds 250
        }
    }
    $stdout = $p.StandardOutput.ReadToEndAsync()
    $stderr = $p.StandardError.ReadToEndAsync()
    $p.StandardInput.Close()
    if (-not $p.WaitForExit($TimeoutSeconds * 1000)) {
        $p.Kill($true)
        throw "child pwsh did not finish within $TimeoutSeconds s"
    }
    [pscustomobject]@{ ExitCode = $p.ExitCode; StdOut = $stdout.Result; StdErr = $stderr.Result }
}

function New-ModuleCopy {
    # A private copy of the built module that a test may damage.
    param([Parameter(Mandatory)] [string] $Destination)
    Copy-Item -Recurse $script:ModulePath $Destination
    Join-Path $Destination 'd365fo.interactive.psd1'
}

function New-TestHooksModuleCopy {
    <# A private copy of the built module whose native library is the test-hooks build (build.ps1 -Task Test builds
       it and sets D365FO_TEST_HOOKS_LIBRARY): the same code plus forced panics for two magic tenants. Returns
       the copy's manifest. #>
    param([Parameter(Mandatory)] [string] $Destination)
    $lib = $env:D365FO_TEST_HOOKS_LIBRARY
    if (-not $lib -or -not (Test-Path $lib)) { throw "D365FO_TEST_HOOKS_LIBRARY does not point at the test-hooks library ('$lib'); run the tests with ./build.ps1 -Task Test." }
    $manifest = New-ModuleCopy $Destination
    $shipped = @(Get-ChildItem (Join-Path $Destination 'runtimes') -Recurse -File -Filter (Split-Path -Leaf $lib))
    if ($shipped.Count -ne 1) { throw "expected one native library named $(Split-Path -Leaf $lib) in the module copy, found $($shipped.Count)" }
    Copy-Item -LiteralPath $lib -Destination $shipped[0].FullName -Force
    $manifest
}

function Start-FakeAuthority {
    <# Starts the fake Entra authority (rust/fake_authority) on 127.0.0.1 with a random port and returns
       { Url; Process }. It exits when its stdin closes, so a crashed test run leaves nothing behind. #>
    param([string[]] $Arguments = @())
    if (-not $script:FakeAuthorityExe -or -not (Test-Path $script:FakeAuthorityExe)) { throw "The fake authority binary is missing: '$script:FakeAuthorityExe'." }
    $psi = [Diagnostics.ProcessStartInfo]::new($script:FakeAuthorityExe)
    foreach ($a in @('--port', '0', '--exit-on-stdin-eof') + $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    $null = $p.StandardError.ReadToEndAsync()
    $read = $p.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(10000) -or $read.Result -notmatch '^READY (https?://\S+)') {
        try { $p.Kill() } catch { }
        throw "The fake authority did not report READY (got '$($read.Result)')."
    }
    $null = $p.StandardOutput.ReadToEndAsync()
    [pscustomobject]@{ Url = $Matches[1].TrimEnd('/'); Process = $p }
}

function Stop-FakeAuthority {
    param($Authority)
    if (-not $Authority) { return }
    try { $Authority.Process.StandardInput.Close() } catch { }
    if (-not $Authority.Process.WaitForExit(3000)) { $Authority.Process.Kill() }
}

function Get-FakeAuthorityLog {
    # The requests the fake authority received: method, path, form fields, time in ms.
    param($Authority)
    # Invoke-RestMethod returns a JSON array as one object: enumerate it so callers can pipe the entries.
    Invoke-RestMethod -Uri "$($Authority.Url)/_test/log" -NoProxy | ForEach-Object { $_ }
}

function Get-FreeLoopbackPort {
    $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
    $port
}

function Start-Xvfb {
    # A real X server for clipboard and browser tests; returns $null where Xvfb is not installed.
    if (-not (Get-Command Xvfb -ErrorAction SilentlyContinue)) { return $null }
    foreach ($n in 90..120) {
        # A display whose lock file names a live process belongs to another server: skip it. A lock left by a
        # server that is gone (killed, or a machine that ran the suite before) is stale: Xvfb takes such a display
        # over itself. Skipping those too left no display at all after enough runs on one machine (31 stale locks),
        # and every clipboard test then ran without a display.
        if (Test-Path "/tmp/.X$n-lock") {
            $owner = ((Get-Content -Raw "/tmp/.X$n-lock" -ErrorAction SilentlyContinue) ?? '').Trim()
            if (-not ($owner -match '^\d+$') -or (Test-Path "/proc/$owner")) { continue }
            Remove-Item -Force "/tmp/.X$n-lock", "/tmp/.X11-unix/X$n" -ErrorAction SilentlyContinue
            if (Test-Path "/tmp/.X$n-lock") { continue }
        } elseif (Test-Path "/tmp/.X11-unix/X$n") { continue }
        $p = Start-Process Xvfb -ArgumentList ":$n", '-nolisten', 'tcp', '-screen', '0', '1024x768x24' -PassThru -RedirectStandardError (Join-Path ([IO.Path]::GetTempPath()) "xvfb-$n.log")
        # The socket file exists from bind(), a moment before the server listens: a client connecting in that
        # moment is refused ("Can't open display"). Ready is when a client gets past the connection: xclip then
        # answers that the (empty) secondary selection has no text, or prints it.
        $until = [DateTime]::UtcNow.AddSeconds(20)
        while (-not $p.HasExited -and [DateTime]::UtcNow -lt $until) {
            if (Test-Path "/tmp/.X11-unix/X$n") {
                $probe = (& timeout 5 xclip -display ":$n" -selection secondary -o 2>&1) -join "`n"
                if ($probe -notmatch "Can't open display") { return [pscustomobject]@{ Display = ":$n"; Process = $p } }
            }
            Start-Sleep -Milliseconds 100
        }
        try { $p.Kill() } catch { }
    }
    throw 'Start-Xvfb: no X display from :90 to :120 could be started (see xvfb-*.log in the temp folder).'
}

function Stop-Xvfb($x) {
    # SIGTERM, so the server removes its lock and socket files (a kill -9 leaves them behind).
    if (-not $x -or $x.Process.HasExited) { return }
    & kill -TERM $x.Process.Id 2>$null
    if (-not $x.Process.WaitForExit(5000)) { try { $x.Process.Kill() } catch { } }
}
