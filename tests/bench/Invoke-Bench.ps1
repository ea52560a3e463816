<#
.SYNOPSIS
Benchmarks the built module side by side with a baseline and prints one markdown table.

.DESCRIPTION
Measures, in one run (build.ps1 -Task Bench calls this after building):
  1. Import cost against an empty binary module (a netstandard2.0 assembly with one trivial cmdlet and a
     manifest, built by the bench with `dotnet build` in a temporary folder): whole processes
     (`pwsh -NoProfile -Command "Import-Module <manifest>"`, the empty one, and `exit`, interleaved), in-session
     Import-Module timed with a Stopwatch (the module and the empty one), the same in processes whose format
     system is already set up (a tiny module with one view imported first, as PSReadLine does in an interactive
     session), and the module's import part by part.
  2. Time to token against the fake authority approving at known instants, intervals 1 s and 5 s: approval to
     token on the pipeline, token minus the successful poll, token minus the earliest poll the server allows,
     and the cmdlet's wall time.
  3. The same for a baseline (tests/bench/Baseline-DeviceFlow.ps1, the original algorithm of
     d365fo.integrations: fixed 2 s + 2 s sleeps, 1-second polling), and ours/baseline ratios.
  4. CPU time of a pwsh process during a sign-in that waits without approval; working set after import; working
     set, open file descriptors (handles) and threads after N and after 10 x N sign-ins in one session.
  5. 16 sign-ins at once with ForEach-Object -Parallel, against one sign-in.
  6. One sign-in serves the session, timed in-session: Get-D365ODataTokenInteractive returning the session's
     token (nothing sent), renewing it with one refresh grant (a server issuing 60-second tokens), and a fresh
     device code sign-in (-Force, approved at once); the authority's log confirms what each call sent.
Every timed sign-in of parts 2-5 uses -Force: the session's token would otherwise answer all but the first.
Timing never fails the run: targets are reported as met or missed. The script throws only when the bench
itself breaks (a child process hangs, a server does not start, results are missing).
Children run headless (no DISPLAY, D365FO_NO_BROWSER=1), as on a CI machine: no clipboard, no browser.

.PARAMETER ModulePath
The built module folder (out/d365fo.interactive).

.PARAMETER FakeAuthority
The fake authority executable (target/release/fake_authority).

.PARAMETER Quick
A smoke run with the same rows (2 import runs each, 5 sign-ins, 3 s wait, fewer timed sign-ins and session
token calls): for the Pester test, not for numbers.

.PARAMETER OutFile
Also write the report (machine description, table, notes) to this file.

.PARAMETER RawFile
Also save every measured number (CliXml), to look into a run or re-render it with -ReplayFile.

.PARAMETER ReplayFile
Render the report from a -RawFile of an earlier run instead of measuring (for working on the report itself).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $FakeAuthority,
    [switch] $Quick,
    [string] $OutFile,
    [string] $RawFile,
    [string] $ReplayFile
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ModulePath = (Resolve-Path $ModulePath).Path  # (checked even for -ReplayFile: the same call line works both ways)
$Manifest = Join-Path $ModulePath 'd365fo.interactive.psd1'
if (-not (Test-Path $Manifest)) { throw "No module manifest at '$Manifest'; build first (./build.ps1)." }
if (-not (Test-Path $FakeAuthority)) { throw "No fake authority at '$FakeAuthority'; build first (./build.ps1)." }
$FakeAuthority = (Resolve-Path $FakeAuthority).Path
$BaselineScript = Join-Path $PSScriptRoot 'Baseline-DeviceFlow.ps1'
$RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$PwshExe = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
$Resource = 'https://contoso.operations.dynamics.com'

# Sizes of each part. Quick keeps every row but spends seconds, not minutes.
$Plan = if ($Quick) {
    @{ ImportRuns = 2; InSessionImportRuns = 2; WaitSeconds = 3; SettleSeconds = 2; SignIns = 5; Parallel = 4
       CacheCalls = 4; RefreshCalls = 3; FreshCalls = 2
       # Seconds after the code is issued at which each timed sign-in is approved; 0: at once.
       Approve1 = @(0, 2.5); Approve5 = @(0, 2.5) }
} else {
    @{ ImportRuns = 12; InSessionImportRuns = 12; WaitSeconds = 30; SettleSeconds = 3; SignIns = 200; Parallel = 16
       # The session's token: calls that get it back, calls that renew it, fresh sign-ins (interleaved with the first).
       CacheCalls = 40; RefreshCalls = 20; FreshCalls = 8
       # Interval 1: three immediate approvals, then three at instants when both clients are polling (the
       # baseline only starts at +4 s). Interval 5: two immediate, then one between polls and one late.
       Approve1 = @(0, 0, 0, 4.5, 5.3, 6.7); Approve5 = @(0, 0, 7.5, 13.2) }
}
$EarlySignIns = [Math]::Max(2, [int]($Plan.SignIns / 10))
$MidSignIns = [int][Math]::Ceiling(($EarlySignIns + $Plan.SignIns) / 2)
$Tolerance = @{ WorkingSetBytes = 8MB; WorkingSetFraction = 0.05; Fds = 2; Threads = 2 }
$Targets = @{ ImportOverEmptyMs = 20; TokenAfterEarliestPollMs = 50; SpeedupVsBaseline = 5; WaitCpuPercent = 1; ParallelRatio = 1.5 }

$workDir = Join-Path ([IO.Path]::GetTempPath()) ("d365fo-bench-" + [Guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $workDir
$servers = [Collections.Generic.List[object]]::new()
$children = [Collections.Generic.List[object]]::new()

#region helpers

function Get-EpochMs {
    # Wall clock in ms since the Unix epoch, sub-ms resolution: comparable with the fake authority's epoch_ms.
    ([DateTime]::UtcNow.Ticks - 621355968000000000) / 10000.0
}

function Write-Step([string] $Text) {
    $at = if ($benchClock) { '{0,4:N0} s' -f $benchClock.Elapsed.TotalSeconds } else { '   0 s' }
    Write-Host "bench [$at]: $Text"
}

function ConvertTo-Literal([string] $s) { "'" + $s.Replace("'", "''") + "'" }

function Start-Authority {
    # The fake authority on a free loopback port; exits when its stdin closes.
    param([string[]] $Arguments)
    $psi = [Diagnostics.ProcessStartInfo]::new($FakeAuthority)
    foreach ($a in @('--port', '0', '--exit-on-stdin-eof') + $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    $null = $p.StandardError.ReadToEndAsync()
    $read = $p.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(10000) -or $read.Result -notmatch '^READY (http://\S+)') {
        try { $p.Kill() } catch { }
        throw "The fake authority ($($Arguments -join ' ')) did not report READY."
    }
    $null = $p.StandardOutput.ReadToEndAsync()
    $s = [pscustomobject]@{ Url = $Matches[1].TrimEnd('/'); Process = $p; Arguments = $Arguments }
    $servers.Add($s)
    $s
}

function Stop-Authority($Server) {
    try { $Server.Process.StandardInput.Close() } catch { }
    if (-not $Server.Process.WaitForExit(3000)) { try { $Server.Process.Kill() } catch { } }
}

function Get-SignIns($Server, [string] $Tenant) {
    @(Invoke-RestMethod -Uri "$($Server.Url)/_test/signins" -NoProxy | ForEach-Object { $_ } | Where-Object tenant -EQ $Tenant)
}

function Get-AuthorityLog($Server, [string] $Tenant) {
    @(Invoke-RestMethod -Uri "$($Server.Url)/_test/log" -NoProxy | ForEach-Object { $_ } | Where-Object tenant -EQ $Tenant)
}

function Get-FormField($Entry, [string] $Name) {
    $p = $Entry.form.PSObject.Properties[$Name]
    if ($p) { $p.Value } else { $null }
}

function Start-Child {
    <# A fresh pwsh running $Script, headless and pointed at $Authority, its output collected in the
       background. Lines starting with "BENCH " carry results as JSON. #>
    param([Parameter(Mandatory)] [string] $Script, [string] $Authority)
    $psi = [Diagnostics.ProcessStartInfo]::new($PwshExe)
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($Script))
    foreach ($a in @('-NoProfile', '-NonInteractive', '-EncodedCommand', $encoded)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    foreach ($k in 'DISPLAY', 'WAYLAND_DISPLAY', 'BROWSER') { $null = $psi.Environment.Remove($k) }
    $psi.Environment['TERM'] = 'dumb'
    $psi.Environment['NO_COLOR'] = '1'
    $psi.Environment['D365FO_NO_BROWSER'] = '1'
    $psi.Environment['D365FO_CONFIG_DIR'] = Join-Path $workDir 'config'
    $psi.Environment['XDG_CONFIG_HOME'] = Join-Path $workDir 'xdg'
    $psi.Environment['NO_PROXY'] = '127.0.0.1,localhost'
    if ($Authority) { $psi.Environment['D365FO_AUTHORITY'] = $Authority }
    $p = [Diagnostics.Process]::Start($psi)
    $c = [pscustomobject]@{ Process = $p; StdOut = $p.StandardOutput.ReadToEndAsync(); StdErr = $p.StandardError.ReadToEndAsync() }
    $children.Add($c)
    $c
}

function Wait-Child {
    # Waits for a child and returns its BENCH records; a hang or a child that reported nothing breaks the bench.
    param([Parameter(Mandatory)] $Child, [int] $TimeoutSeconds = 300, [int] $Expect = 1)
    if (-not $Child.Process.WaitForExit($TimeoutSeconds * 1000)) {
        try { $Child.Process.Kill($true) } catch { }
        throw "A bench child pwsh did not finish within $TimeoutSeconds s. Its output so far is lost; stderr: $($Child.StdErr.Result)"
    }
    $out = $Child.StdOut.Result
    $records = @($out -split "`r?`n" | Where-Object { $_.StartsWith('BENCH ') } | ForEach-Object { $_.Substring(6) | ConvertFrom-Json })
    if ($records.Count -lt $Expect) {
        throw "A bench child pwsh reported $($records.Count) of $Expect results (exit code $($Child.Process.ExitCode)).`nstdout: $out`nstderr: $($Child.StdErr.Result)"
    }
    $records
}

function Stop-Child($Child) {
    if (-not $Child.Process.HasExited) { try { $Child.Process.Kill($true) } catch { } ; $null = $Child.Process.WaitForExit(5000) }
}

function Get-Stats {
    # Median, quartiles (linear interpolation), min and max of a set of numbers.
    param([double[]] $Values)
    $v = @($Values | Sort-Object)
    if ($v.Count -eq 0) { return $null }
    $q = {
        param($p)
        $pos = ($v.Count - 1) * $p
        $lo = [Math]::Floor($pos); $hi = [Math]::Ceiling($pos)
        $v[$lo] + ($v[$hi] - $v[$lo]) * ($pos - $lo)
    }
    [pscustomobject]@{ Count = $v.Count; Median = & $q 0.5; Q1 = & $q 0.25; Q3 = & $q 0.75; Min = $v[0]; Max = $v[-1] }
}

function Format-Ms($x) { if ($null -eq $x) { 'n/a' } else { '{0:N0} ms' -f $x } }

function Format-Stats {
    # "1,234 ms (min 1,200, max 1,300, IQR 1,210-1,250, n=12)"
    param($s, [switch] $NoIqr, [int] $Decimals = 0)
    if (-not $s) { return 'n/a' }
    $f = "N$Decimals"
    $t = "{0} ms (min {1}, max {2}" -f $s.Median.ToString($f), $s.Min.ToString($f), $s.Max.ToString($f)
    if (-not $NoIqr -and $s.Count -ge 4) { $t += ", IQR {0}-{1}" -f $s.Q1.ToString($f), $s.Q3.ToString($f) }
    "$t, n=$($s.Count))"
}

function Format-MB($bytes) { '{0:N1} MB' -f ($bytes / 1MB) }

function Format-Signed([double] $x, [int] $Decimals = 0) {
    $r = [Math]::Round($x, $Decimals)
    ($r -ge 0 ? '+' : '-') + [Math]::Abs($r).ToString("N$Decimals")
}

function Format-Ratio($a, $b) {
    # Ratio of two medians; n/a when either side has no numbers.
    if (-not $a -or -not $b -or $b.Median -eq 0) { return 'n/a' }
    '{0:N2}' -f ($a.Median / $b.Median)
}

function Get-MachineDescription {
    $lines = [Collections.Generic.List[string]]::new()
    $cpu = if (Test-Path /proc/cpuinfo) { (Select-String -Path /proc/cpuinfo -Pattern '^model name\s*:\s*(.*)$' | Select-Object -First 1).Matches.Groups[1].Value } else { $env:PROCESSOR_IDENTIFIER }
    $os = if (Test-Path /etc/os-release) { (Get-Content /etc/os-release | Where-Object { $_ -like 'PRETTY_NAME=*' }) -replace '^PRETTY_NAME="?(.*?)"?$', '$1' } else { [Runtime.InteropServices.RuntimeInformation]::OSDescription }
    $lines.Add("- CPU: $cpu; ``nproc``: $([Environment]::ProcessorCount)")
    if (Get-Command free -CommandType Application -ErrorAction SilentlyContinue) {
        $f = @(& free -h | Where-Object { $_ -like 'Mem:*' } | Select-Object -First 1) -split '\s+'
        if ($f.Count -ge 7) { $lines.Add("- Memory (``free -h``): $($f[1]) total, $($f[2]) used, $($f[6]) available") }
    }
    $lines.Add("- OS: $os ($([Runtime.InteropServices.RuntimeInformation]::OSDescription.Trim()), $([Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture))")
    $lines.Add("- PowerShell $($PSVersionTable.PSVersion) on $([Runtime.InteropServices.RuntimeInformation]::FrameworkDescription)")
    if (Test-Path /proc/loadavg) { $lines.Add("- Load average when the bench started: $((Get-Content /proc/loadavg).Split(' ')[0..2] -join ', ')") }
    $lines
}

#endregion

#region child scripts

function New-SignInSessionScript {
    <# A session that signs in $Count times one after another (ours or the baseline) and reports, per sign-in,
       when it started, when the token reached the next command in the pipeline, and when the call ended. #>
    param([ValidateSet('ours', 'baseline')] [string] $Client, [string] $Tenant, [int] $Count, [string] $Authority, [int] $Timeout = 300)
    $call = if ($Client -eq 'ours') {
        "Import-Module $(ConvertTo-Literal $Manifest)`n" +
        # -Force: a real device code sign-in each time, not the session's token from the previous one.
        'function Invoke-SignIn { Get-D365ODataTokenInteractive -Tenant $tenant -Url $url -Timeout $timeout -Force -EnableException }'
    } else {
        ". $(ConvertTo-Literal $BaselineScript)`n" +
        "function Invoke-SignIn { Get-BaselineODataToken -Authority $(ConvertTo-Literal $Authority) -Tenant `$tenant -Url `$url -Timeout `$timeout }"
    }
    @"
`$ErrorActionPreference = 'Stop'
`$tenant = $(ConvertTo-Literal $Tenant); `$url = $(ConvertTo-Literal $Resource); `$timeout = $Timeout
$call
function Get-EpochMs { ([DateTime]::UtcNow.Ticks - 621355968000000000) / 10000.0 }
for (`$i = 0; `$i -lt $Count; `$i++) {
    `$rec = [ordered]@{ i = `$i; start = Get-EpochMs; token = `$null; end = `$null; ok = `$false; error = `$null }
    try {
        Invoke-SignIn | ForEach-Object { `$rec.token = Get-EpochMs; `$rec.ok = `$_ -like 'Bearer ?*' }
    } catch { `$rec.error = "`$_" }
    `$rec.end = Get-EpochMs
    [Console]::Out.WriteLine('BENCH ' + (`$rec | ConvertTo-Json -Compress))
}
"@
}

#endregion

#region measurements

function New-EmptyBinaryModule {
    <# The floor for a binary module: a netstandard2.0 assembly with one trivial cmdlet and a manifest, built here
       with `dotnet build` of a throwaway project against the same PowerShellStandard.Library as the module (never
       a build output of the repository). Returns its manifest. #>
    $version = '5.1.1'
    $shim = Join-Path $RepoRoot 'dotnet-shim/d365fo.interactive.csproj'
    if ((Test-Path $shim) -and ((Get-Content -Raw $shim) -match 'Include="PowerShellStandard\.Library"\s+Version="([^"]+)"')) { $version = $Matches[1] }
    $src = Join-Path $workDir 'emptybin.src'
    $dir = Join-Path $workDir 'bench.emptybin'
    $null = New-Item -ItemType Directory -Path $src, $dir
    Set-Content -Path (Join-Path $src 'bench.emptybin.csproj') -Value @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>netstandard2.0</TargetFramework>
    <AssemblyName>bench.emptybin</AssemblyName>
    <CopyLocalLockFileAssemblies>false</CopyLocalLockFileAssemblies>
    <GenerateDocumentationFile>false</GenerateDocumentationFile>
    <DebugType>none</DebugType>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="PowerShellStandard.Library" Version="$version" PrivateAssets="all" />
  </ItemGroup>
</Project>
"@
    Set-Content -Path (Join-Path $src 'GetBenchEmptyCommand.cs') -Value @'
using System.Management.Automation;

namespace Bench.EmptyBinary
{
    [Cmdlet(VerbsCommon.Get, "BenchEmpty")]
    public sealed class GetBenchEmptyCommand : PSCmdlet
    {
        protected override void ProcessRecord() => WriteObject("empty");
    }
}
'@
    $env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'; $env:DOTNET_NOLOGO = '1'
    $log = & dotnet build (Join-Path $src 'bench.emptybin.csproj') -c Release -o $dir --nologo -v q 2>&1
    if ($LASTEXITCODE -ne 0) { throw "Building the empty binary module failed:`n$($log -join "`n")" }
    Get-ChildItem $dir -Filter '*.deps.json' | Remove-Item
    $manifest = Join-Path $dir 'bench.emptybin.psd1'
    Set-Content -Path $manifest -Value @"
@{
    RootModule = 'bench.emptybin.dll'; ModuleVersion = '1.0.0'; GUID = '5d3c2c43-5a0e-4b7e-9c61-1b1f3a3f0b01'
    PowerShellVersion = '5.1'; CompatiblePSEditions = @('Desktop', 'Core')
    CmdletsToExport = @('Get-BenchEmpty'); FunctionsToExport = @(); AliasesToExport = @(); VariablesToExport = @()
}
"@
    $manifest
}

function Measure-ImportCost {
    <# Import of the module against an empty binary module (the floor) and `exit`:
       - whole processes, `pwsh -NoProfile -Command "Import-Module <manifest>"`, interleaved in rotating order;
       - in-session: in a fresh process whose Import-Module machinery is warm (an empty script module imported
         first), Import-Module timed with a Stopwatch; the module and the empty binary module, interleaved;
       - the same with the format system warm as well: after the empty script module, a tiny script module with
         one view (FormatsToProcess) is imported and timed, which pays PowerShell's one-time format-table set-up
         as PSReadLine's format data does in an interactive session; then the timed import. The module ships no
         format data, so this shows what it costs where that set-up has been paid by someone else;
       - the module's import part by part: its assembly loaded, then what its initializer does called one by
         one through reflection (native library and ABI check, $ExecutionContext, command routing), then
         Import-Module with those done. #>
    $emptyScriptDir = Join-Path $workDir 'bench.emptyscript'
    $null = New-Item -ItemType Directory -Path $emptyScriptDir
    Set-Content -Path (Join-Path $emptyScriptDir 'bench.emptyscript.psm1') -Value '# an empty script module: warms Import-Module before the timed import'
    $warm = Join-Path $emptyScriptDir 'bench.emptyscript.psd1'
    Set-Content -Path $warm -Value "@{ ModuleVersion = '1.0'; RootModule = 'bench.emptyscript.psm1'; FunctionsToExport = @(); CmdletsToExport = @(); AliasesToExport = @(); VariablesToExport = @() }"
    $empty = New-EmptyBinaryModule

    # A tiny script module with one view: importing it sets up the session's format table.
    $formatDir = Join-Path $workDir 'bench.formatwarm'
    $null = New-Item -ItemType Directory -Path $formatDir
    Set-Content -Path (Join-Path $formatDir 'bench.formatwarm.psm1') -Value '# a script module whose only content is one view'
    Set-Content -Path (Join-Path $formatDir 'bench.formatwarm.Format.ps1xml') -Value @'
<?xml version="1.0" encoding="utf-8"?>
<Configuration>
  <ViewDefinitions>
    <View>
      <Name>Bench.FormatWarm.Thing</Name>
      <ViewSelectedBy><TypeName>Bench.FormatWarm.Thing</TypeName></ViewSelectedBy>
      <ListControl><ListEntries><ListEntry><ListItems>
        <ListItem><PropertyName>Name</PropertyName></ListItem>
      </ListItems></ListEntry></ListEntries></ListControl>
    </View>
  </ViewDefinitions>
</Configuration>
'@
    $formatWarm = Join-Path $formatDir 'bench.formatwarm.psd1'
    Set-Content -Path $formatWarm -Value "@{ ModuleVersion = '1.0'; RootModule = 'bench.formatwarm.psm1'; FormatsToProcess = @('bench.formatwarm.Format.ps1xml'); FunctionsToExport = @(); CmdletsToExport = @(); AliasesToExport = @(); VariablesToExport = @() }"

    $run = {
        param($command)
        $psi = [Diagnostics.ProcessStartInfo]::new($PwshExe)
        foreach ($a in @('-NoProfile', '-Command', $command)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $p = [Diagnostics.Process]::Start($psi)
        $o = $p.StandardOutput.ReadToEndAsync(); $e = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit(120000)) { $p.Kill(); throw "pwsh -Command $command did not exit within 120 s" }
        $p.WaitForExit()
        $sw.Stop()
        if ($p.ExitCode -ne 0 -or $e.Result) { throw "pwsh -Command $command failed ($($p.ExitCode)): $($e.Result) $($o.Result)" }
        [pscustomobject]@{ Ms = $sw.Elapsed.TotalMilliseconds; Out = $o.Result }
    }
    $rotate = { param($keys, $i) for ($j = 0; $j -lt $keys.Count; $j++) { $keys[($i + $j) % $keys.Count] } }

    # Whole processes.
    $variants = [ordered]@{ exit = 'exit'; ours = "Import-Module $(ConvertTo-Literal $Manifest)"; empty = "Import-Module $(ConvertTo-Literal $empty)" }
    $times = @{}
    foreach ($k in $variants.Keys) { $times[$k] = [Collections.Generic.List[double]]::new() }
    $pairs = [Collections.Generic.List[double]]::new()
    foreach ($k in $variants.Keys) { $null = & $run $variants[$k] }   # warms the file cache
    for ($i = 0; $i -lt $Plan.ImportRuns; $i++) {
        $round = @{}
        foreach ($k in (& $rotate @($variants.Keys) $i)) { $round[$k] = (& $run $variants[$k]).Ms; $times[$k].Add($round[$k]) }
        $pairs.Add($round.ours - $round.empty)
    }

    # In-session: Import-Module warm (the empty script module), and in the *fmt variants the format system warm
    # too (the one-view module, its own import timed). Each child prints "<format module ms>;<timed import ms>".
    $inSession = [ordered]@{
        ours = @{ Target = $Manifest; Format = $false }; empty = @{ Target = $empty; Format = $false }
        oursfmt = @{ Target = $Manifest; Format = $true }; emptyfmt = @{ Target = $empty; Format = $true }
    }
    $ins = @{}
    foreach ($k in $inSession.Keys) { $ins[$k] = [Collections.Generic.List[double]]::new() }
    $formatImport = [Collections.Generic.List[double]]::new()
    $insPairs = [Collections.Generic.List[double]]::new()
    $fmtPairs = [Collections.Generic.List[double]]::new()
    $ms = '.TotalMilliseconds.ToString([Globalization.CultureInfo]::InvariantCulture)'
    for ($i = 0; $i -lt $Plan.InSessionImportRuns; $i++) {
        $round = @{}
        foreach ($k in (& $rotate @($inSession.Keys) $i)) {
            $v = $inSession[$k]
            $first = if ($v.Format) { "`$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module $(ConvertTo-Literal $formatWarm); `$f = `$sw.Elapsed$ms" } else { "`$f = ''" }
            $out = (& $run "Import-Module $(ConvertTo-Literal $warm); $first; `$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module $(ConvertTo-Literal $v.Target); `$f + ';' + `$sw.Elapsed$ms").Out
            $f, $t = $out.Trim().Split(';')
            $round[$k] = [double]::Parse($t, [Globalization.CultureInfo]::InvariantCulture)
            $ins[$k].Add($round[$k])
            if ($v.Format) { $formatImport.Add([double]::Parse($f, [Globalization.CultureInfo]::InvariantCulture)) }
        }
        $insPairs.Add($round.ours - $round.empty)
        $fmtPairs.Add($round.oursfmt - $round.emptyfmt)
    }

    # Part by part (the names are the module's internals; a part that cannot be found is reported as n/a).
    $partNames = 'assembly', 'native', 'engine', 'routing', 'rest'
    $parts = @{}
    foreach ($k in $partNames) { $parts[$k] = [Collections.Generic.List[double]]::new() }
    $dll = Join-Path $ModulePath 'd365fo.interactive.dll'
    $partScript = @"
Import-Module $(ConvertTo-Literal $warm)
`$flags = [Reflection.BindingFlags]'NonPublic,Static'
`$null = [Math].GetMethod('Abs', [Type[]]@([int])).Invoke(`$null, @(1))   # reflection's own first use, not timed
`$r = [ordered]@{}
`$sw = [Diagnostics.Stopwatch]::StartNew()
`$asm = [Reflection.Assembly]::LoadFrom($(ConvertTo-Literal $dll))
`$r.assembly = `$sw.Elapsed.TotalMilliseconds
function Measure-Part([string] `$key, [string] `$type, [string] `$method, [object[]] `$arguments) {
    `$m = `$asm.GetType(`$type, `$false)
    if (`$m) { `$m = `$m.GetMethod(`$method, `$flags) }
    if (-not `$m) { `$script:r[`$key] = `$null; return `$null }
    `$sw = [Diagnostics.Stopwatch]::StartNew(); `$v = `$m.Invoke(`$null, `$arguments); `$script:r[`$key] = `$sw.Elapsed.TotalMilliseconds
    `$v
}
`$null = Measure-Part native 'D365fo.Interactive.Native' 'EnsureLoaded' `$null
`$engine = Measure-Part engine 'D365fo.Interactive.ModuleInitializer' 'CurrentEngine' `$null
if (-not `$engine) { `$engine = `$ExecutionContext }
`$null = Measure-Part routing 'D365fo.Interactive.CommandRouting' 'Install' @(`$engine)
`$sw.Restart(); Import-Module $(ConvertTo-Literal $Manifest); `$r.rest = `$sw.Elapsed.TotalMilliseconds
`$r | ConvertTo-Json -Compress
"@
    for ($i = 0; $i -lt $Plan.InSessionImportRuns; $i++) {
        $r = (& $run $partScript).Out | ConvertFrom-Json
        foreach ($k in $partNames) { if ($null -ne $r.$k) { $parts[$k].Add([double]$r.$k) } }
    }

    $s = @{}
    foreach ($k in $variants.Keys) { $s[$k] = Get-Stats $times[$k] }
    $p = [ordered]@{}
    foreach ($k in $partNames) { $p[$k] = Get-Stats $parts[$k] }
    [pscustomobject]@{
        Exit = $s.exit; Ours = $s.ours; Empty = $s.empty
        OursOverEmpty = Get-Stats $pairs            # per round: ours minus empty, whole processes
        OursAddsOverExit = $s.ours.Median - $s.exit.Median
        EmptyAddsOverExit = $s.empty.Median - $s.exit.Median
        InSession = Get-Stats $ins.ours
        InSessionEmpty = Get-Stats $ins.empty
        InSessionOverEmpty = Get-Stats $insPairs    # per round: ours minus empty, in-session
        FormatWarm = Get-Stats $ins.oursfmt         # the same with the format system already set up
        FormatWarmEmpty = Get-Stats $ins.emptyfmt
        FormatWarmOverEmpty = Get-Stats $fmtPairs
        FormatModule = Get-Stats $formatImport      # the one-view module's own import: the format-table set-up
        Parts = [pscustomobject]$p
    }
}

function Invoke-TimedSession {
    <# One session of sign-ins, each approved through /_test/approve at a chosen instant after its code was
       issued (0: as soon as the bench sees it). Returns one record per sign-in with every delay. #>
    param($Server, [ValidateSet('ours', 'baseline')] [string] $Client, [string] $Tenant, [double[]] $ApproveAfter, [int] $Interval)
    $child = Start-Child -Script (New-SignInSessionScript -Client $Client -Tenant $Tenant -Count $ApproveAfter.Count -Authority $Server.Url) -Authority $Server.Url
    $approved = @{}
    try {
        for ($k = 0; $k -lt $ApproveAfter.Count; $k++) {
            $limit = [Diagnostics.Stopwatch]::StartNew()
            while (($si = @(Get-SignIns $Server $Tenant)).Count -le $k) {
                if ($child.Process.HasExited) { throw "The $Client session ended before sign-in $($k + 1) started: $($child.StdOut.Result) $($child.StdErr.Result)" }
                if ($limit.Elapsed.TotalSeconds -gt 60) { throw "The $Client session did not start sign-in $($k + 1) within 60 s." }
                Start-Sleep -Milliseconds 20
            }
            $signIn = $si[$k]
            $offset = @(Get-AuthorityLog $Server $Tenant)[0] | ForEach-Object { $_.epoch_ms - $_.ms }
            $issued = $signIn.issued_ms + $offset
            $wait = $issued + $ApproveAfter[$k] * 1000 - (Get-EpochMs)
            if ($wait -gt 0) { Start-Sleep -Milliseconds ([int]$wait) }
            $answer = Invoke-RestMethod -Method Post -Uri "$($Server.Url)/_test/approve" -Body @{ user_code = $signIn.user_code } -NoProxy
            $approved[$k] = [pscustomobject]@{ SignIn = $signIn; Issued = $issued; Approved = [double]$answer.epoch_ms }
        }
        $records = @(Wait-Child $child -TimeoutSeconds 120 -Expect $ApproveAfter.Count)
    }
    finally { Stop-Child $child }

    $log = @(Get-AuthorityLog $Server $Tenant)
    for ($k = 0; $k -lt $ApproveAfter.Count; $k++) {
        $a = $approved[$k]; $r = $records[$k]
        $code = $a.SignIn.device_code
        $polls = @($log | Where-Object { $_.endpoint -eq 'token' -and ((Get-FormField $_ 'code') -eq $code -or (Get-FormField $_ 'device_code') -eq $code) } | Sort-Object epoch_ms)
        $success = if ($polls.Count) { [double]$polls[-1].epoch_ms } else { $null }
        $previous = if ($polls.Count -ge 2) { [double]$polls[-2].epoch_ms } else { $a.Issued }
        # The earliest moment a poll could have succeeded: once approved, and once the interval since the
        # previous poll (or since the code was issued) had passed.
        $earliest = [Math]::Max($a.Approved, $previous + $Interval * 1000)
        [pscustomobject]@{
            Client = $Client; Interval = $Interval; Index = $k; Immediate = ($ApproveAfter[$k] -eq 0); Ok = [bool]$r.ok; Error = $r.error
            Polls = $polls.Count
            Wall = $r.end - $r.start
            ApprovalToToken = if ($r.token) { $r.token - $a.Approved } else { $null }
            TokenAfterSuccessfulPoll = if ($r.token -and $success) { $r.token - $success } else { $null }
            TokenAfterEarliestPoll = if ($r.token) { $r.token - $earliest } else { $null }
        }
    }
}

function Measure-SessionToken {
    <# One sign-in serves the session. Two sessions, each first signing in once (untimed), then timing each call
       with a Stopwatch in the session:
       - against $Server (interval 1 s, approved at the first poll, tokens for an hour): a fresh device code
         sign-in with -Force, then calls that get the session's token back, interleaved;
       - against $RefreshServer (the same, tokens for 60 s, always inside the 5-minute window): calls that renew
         the token with the refresh grant.
       Every timed call also reports its wall-clock window and the host line that says where the token came
       from; the authority's log then shows what each call sent. #>
    param($Server, $RefreshServer)
    $script = {
        param([string] $Tenant, [object[]] $Calls)
        @"
`$ErrorActionPreference = 'Stop'
Import-Module $(ConvertTo-Literal $Manifest)
function Get-EpochMs { ([DateTime]::UtcNow.Ticks - 621355968000000000) / 10000.0 }
`$tenant = $(ConvertTo-Literal $Tenant); `$url = $(ConvertTo-Literal $Resource)
`$null = Get-D365ODataTokenInteractive -Tenant `$tenant -Url `$url -EnableException 6>`$null   # the session's first sign-in, not timed
foreach (`$kind in '$($Calls -join "','")') {
    `$force = `$kind -eq 'fresh'
    `$rec = [ordered]@{ kind = `$kind; start = Get-EpochMs; end = `$null; ms = `$null; ok = `$false; line = `$null; error = `$null }
    try {
        `$sw = [Diagnostics.Stopwatch]::StartNew()
        `$t = Get-D365ODataTokenInteractive -Tenant `$tenant -Url `$url -Force:`$force -EnableException -InformationVariable iv 6>`$null
        `$rec.ms = `$sw.Elapsed.TotalMilliseconds
        `$rec.ok = `$t -like 'Bearer ?*'
        `$rec.line = @(`$iv | ForEach-Object { "`$_" } | Where-Object { `$_ -match '^(Using this session|Renewed this session|Signed in)' })[-1]
    } catch { `$rec.error = "`$_" }
    `$rec.end = Get-EpochMs
    [Console]::Out.WriteLine('BENCH ' + (`$rec | ConvertTo-Json -Compress))
    Start-Sleep -Milliseconds 25   # a gap, so that each request in the authority's log belongs to one call's window
}
"@
    }
    # Interleaved: each fresh sign-in followed by its share of the session-token calls.
    $calls = [Collections.Generic.List[string]]::new()
    $perFresh = [int][Math]::Ceiling($Plan.CacheCalls / $Plan.FreshCalls)
    for ($i = 0; $i -lt $Plan.FreshCalls; $i++) {
        $calls.Add('fresh')
        for ($j = 0; $j -lt $perFresh -and ($i * $perFresh + $j) -lt $Plan.CacheCalls; $j++) { $calls.Add('cache') }
    }
    $refreshCalls = @(1..$Plan.RefreshCalls | ForEach-Object { 'refresh' })

    $sessions = @(
        @{ Server = $Server; Tenant = 'session.bench.test'; Calls = $calls.ToArray() }
        @{ Server = $RefreshServer; Tenant = 'refresh.bench.test'; Calls = $refreshCalls }
    )
    $records = [Collections.Generic.List[object]]::new()
    foreach ($s in $sessions) {
        $c = Start-Child -Script (& $script $s.Tenant $s.Calls) -Authority $s.Server.Url
        try { $got = @(Wait-Child $c -TimeoutSeconds (120 + 10 * $s.Calls.Count) -Expect $s.Calls.Count) } finally { Stop-Child $c }
        $log = @(Get-AuthorityLog $s.Server $s.Tenant)
        foreach ($r in $got) {
            # What the call sent: the authority's log entries that arrived while it ran (the log's epoch_ms is in
            # whole ms, rounded down; calls are 25 ms apart, so this slack cannot take in a neighbour's request).
            $sent = @($log | Where-Object { $_.epoch_ms -ge [Math]::Floor($r.start) - 1 -and $_.epoch_ms -le $r.end + 1 })
            $grants = @($sent | Where-Object endpoint -EQ 'token' | ForEach-Object { Get-FormField $_ 'grant_type' })
            $source = switch -Regex ($r.line) { '^Using this session' { 'cache' } '^Renewed this session' { 'refresh' } '^Signed in' { 'device_code' } default { $null } }
            $records.Add([pscustomobject]@{
                Kind = $r.kind; Ms = $r.ms; Ok = [bool]$r.ok; Error = $r.error; Source = $source
                Requests = $sent.Count
                DeviceCodeRequests = @($sent | Where-Object endpoint -EQ 'devicecode').Count
                RefreshGrants = @($grants | Where-Object { $_ -eq 'refresh_token' }).Count
                DeviceCodeGrants = @($grants | Where-Object { $_ -eq 'urn:ietf:params:oauth:grant-type:device_code' }).Count
            })
        }
    }
    $records
}

function Measure-WaitingCpu {
    <# Three processes side by side: ours waiting for an approval that never comes, the baseline doing the same,
       and an idle pwsh (Start-Sleep) as the floor. CPU time is read from outside, over the first window after
       the code is shown and over a later one (the first also holds .NET's one-time tiered re-compilation of
       the code paths the wait uses). $During runs while they wait (the memory session: CPU time is per
       process, so it does not disturb the reading) and its result is returned as well. #>
    param($Server, $BaselineServer, [scriptblock] $During)
    $w = $Plan.WaitSeconds
    $span = $Plan.SettleSeconds + 3 * $w + 30
    $ours = Start-Child -Authority $Server.Url -Script (New-SignInSessionScript -Client ours -Tenant 'cpu-ours.bench.test' -Count 1 -Timeout $span)
    $base = Start-Child -Authority $BaselineServer.Url -Script (New-SignInSessionScript -Client baseline -Tenant 'cpu-base.bench.test' -Count 1 -Authority $BaselineServer.Url -Timeout $span)
    $idle = Start-Child -Script "Start-Sleep -Seconds $($span + 30)"
    try {
        $limit = [Diagnostics.Stopwatch]::StartNew()
        while (@(Get-SignIns $Server 'cpu-ours.bench.test').Count -eq 0 -or @(Get-SignIns $BaselineServer 'cpu-base.bench.test').Count -eq 0) {
            if ($limit.Elapsed.TotalSeconds -gt 60) { throw 'The CPU sessions did not start their sign-ins within 60 s.' }
            if ($ours.Process.HasExited -or $base.Process.HasExited) { throw "A CPU session ended early: $($ours.StdErr.Result) $($base.StdErr.Result)" }
            Start-Sleep -Milliseconds 50
        }
        $duringState = if ($During) { & $During 'start' }
        # Let the start-up work (the device code request, host output) finish before the first window opens.
        Start-Sleep -Seconds $Plan.SettleSeconds
        $procs = [ordered]@{ ours = $ours.Process; baseline = $base.Process; idle = $idle.Process }
        $samples = [Collections.Generic.List[hashtable]]::new()
        $clock = [Diagnostics.Stopwatch]::StartNew()
        foreach ($i in 0..3) {
            # Windows: [0, w] (first) and [2w, 3w] (later); the one between is skipped.
            if ($i -gt 0) { $wait = $i * $w * 1000 - $clock.Elapsed.TotalMilliseconds; if ($wait -gt 0) { Start-Sleep -Milliseconds ([int]$wait) } }
            $sample = @{ at = $clock.Elapsed.TotalMilliseconds }
            foreach ($k in $procs.Keys) {
                if ($procs[$k].HasExited) { throw "The $k process ended during the CPU windows." }
                $procs[$k].Refresh(); $sample[$k] = $procs[$k].TotalProcessorTime.TotalMilliseconds
            }
            $samples.Add($sample)
        }
        $window = { param($a, $b) $r = [ordered]@{ window = $b.at - $a.at }; foreach ($k in $procs.Keys) { $r[$k] = $b[$k] - $a[$k] }; [pscustomobject]$r }
        $duringResult = if ($During) { & $During 'wait' $duringState }
        [pscustomobject]@{ First = & $window $samples[0] $samples[1]; Later = & $window $samples[2] $samples[3]; During = $duringResult }
    }
    finally { foreach ($c in $ours, $base, $idle) { Stop-Child $c } }
}

function Start-Memory {
    # Working set, descriptors and threads after import, after a few sign-ins and after many, in one session.
    param($Server)
    $script = @"
`$ErrorActionPreference = 'Stop'
function Send-Sample([string] `$label, [int] `$n, [int] `$failed) {
    [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
    `$p = [Diagnostics.Process]::GetCurrentProcess()
    `$fds = if (Test-Path /proc/self/fd) { [IO.Directory]::GetFileSystemEntries('/proc/self/fd').Length } else { `$p.HandleCount }
    `$s = [ordered]@{ label = `$label; n = `$n; failed = `$failed; ws = `$p.WorkingSet64; managed = [GC]::GetTotalMemory(`$false); fds = `$fds; threads = `$p.Threads.Count }
    [Console]::Out.WriteLine('BENCH ' + (`$s | ConvertTo-Json -Compress))
}
Send-Sample 'before-import' 0 0
Import-Module $(ConvertTo-Literal $Manifest)
Send-Sample 'import' 0 0
`$failed = 0
for (`$i = 1; `$i -le $($Plan.SignIns); `$i++) {
    try { `$t = Get-D365ODataTokenInteractive -Tenant 'mem.bench.test' -Url $(ConvertTo-Literal $Resource) -Force -EnableException 6>`$null; if (`$t -notlike 'Bearer ?*') { `$failed++ } }
    catch { `$failed++ }
    if (`$i -eq $EarlySignIns) { Send-Sample 'early' `$i `$failed }
    if (`$i -eq $MidSignIns) { Send-Sample 'mid' `$i `$failed }
}
Send-Sample 'late' $($Plan.SignIns) `$failed
"@
    Start-Child -Script $script -Authority $Server.Url
}

function Wait-Memory($Child) {
    $timeout = 120 + 5 * $Plan.SignIns
    try { $samples = @(Wait-Child $Child -TimeoutSeconds $timeout -Expect 5) } finally { Stop-Child $Child }
    $by = @{}
    foreach ($s in $samples) { $by[$s.label] = $s }
    $by
}

function Measure-Parallel {
    param($Server)
    $n = $Plan.Parallel
    $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module $(ConvertTo-Literal $Manifest)
`$m = $(ConvertTo-Literal $Manifest); `$url = $(ConvertTo-Literal $Resource)
function Invoke-One { Get-D365ODataTokenInteractive -Tenant 'par.bench.test' -Url `$url -Force -EnableException 6>`$null }
`$null = Invoke-One   # warm: the first call in a session pays for JIT
`$sw = [Diagnostics.Stopwatch]::StartNew(); `$one = Invoke-One; `$single = `$sw.Elapsed.TotalMilliseconds
# ForEach-Object -Parallel's own first use (its runspace machinery) is PowerShell's cost, not a sign-in's: pay
# it once with runspaces that only import the module, and time that, before the sign-ins.
`$sw.Restart()
`$null = 1..$n | ForEach-Object -ThrottleLimit $n -Parallel { Import-Module `$using:m }
`$runspacesCold = `$sw.Elapsed.TotalMilliseconds
`$sw.Restart()
`$all = 1..$n | ForEach-Object -ThrottleLimit $n -Parallel {
    Import-Module `$using:m
    try { Get-D365ODataTokenInteractive -Tenant 'par.bench.test' -Url `$using:url -Force -EnableException 6>`$null } catch { "ERROR: `$_" }
}
`$total = `$sw.Elapsed.TotalMilliseconds
# And once more without sign-ins, each runspace importing the module and then sleeping as long as one sign-in
# took: ForEach-Object -Parallel opens its runspaces one after another, so this is the floor for the total.
`$sw.Restart()
`$null = 1..$n | ForEach-Object -ThrottleLimit $n -Parallel { Import-Module `$using:m; Start-Sleep -Milliseconds ([int]`$using:single) }
`$runspaces = `$sw.Elapsed.TotalMilliseconds
`$ok = @(`$all | Where-Object { `$_ -like 'Bearer ?*' }).Count
`$distinct = @(`$all | Sort-Object -Unique).Count
`$errors = @(`$all | Where-Object { `$_ -notlike 'Bearer ?*' })
[Console]::Out.WriteLine('BENCH ' + (@{ single = `$single; singleOk = (`$one -like 'Bearer ?*'); total = `$total; runspaces = `$runspaces; runspacesCold = `$runspacesCold; ok = `$ok; distinct = `$distinct; n = $n; errors = @(`$errors | Select-Object -First 3) } | ConvertTo-Json -Compress))
"@
    $c = Start-Child -Script $script -Authority $Server.Url
    try { @(Wait-Child $c -TimeoutSeconds 180)[0] } finally { Stop-Child $c }
}

#endregion

$report = [Collections.Generic.List[string]]::new()
$benchClock = [Diagnostics.Stopwatch]::StartNew()
if ($ReplayFile) {
    # Re-render a report from a saved run (-RawFile) without measuring again.
    $saved = Import-Clixml $ReplayFile
    $machine = $saved.Machine; $imp = $saved.Import; $timed = $saved.Timed; $session = $saved.Session; $cpu = $saved.Cpu; $mem = $saved.Memory; $par = $saved.Parallel
    $benchSeconds = $saved.Seconds
}
else {
try {
    $machine = Get-MachineDescription

    Write-Step "import cost: $($Plan.ImportRuns) processes each of 'exit', the module and an empty binary module (built now), interleaved; $($Plan.InSessionImportRuns) in-session imports each, also with the format system set up first; the import part by part"
    $imp = Measure-ImportCost

    $s1 = Start-Authority @('--interval', '1', '--scenario', 'manual')
    $s5 = Start-Authority @('--interval', '5', '--scenario', 'manual')
    $s5Baseline = Start-Authority @('--interval', '5', '--scenario', 'manual', '--no-loop-detection')
    $sFast = Start-Authority @('--interval', '1', '--approve-after-polls', '0')
    $sShort = Start-Authority @('--interval', '1', '--approve-after-polls', '0', '--token-lifetime', '60')

    Write-Step 'time to token, interval 1 s: ours, then the baseline (same server)'
    $timed = [Collections.Generic.List[object]]::new()
    foreach ($r in Invoke-TimedSession -Server $s1 -Client ours -Tenant 'ttt1-ours.bench.test' -ApproveAfter $Plan.Approve1 -Interval 1) { $timed.Add($r) }
    foreach ($r in Invoke-TimedSession -Server $s1 -Client baseline -Tenant 'ttt1-base.bench.test' -ApproveAfter $Plan.Approve1 -Interval 1) { $timed.Add($r) }
    Write-Step 'time to token, interval 5 s: ours (loop detection on), then the baseline (server without loop detection)'
    foreach ($r in Invoke-TimedSession -Server $s5 -Client ours -Tenant 'ttt5-ours.bench.test' -ApproveAfter $Plan.Approve5 -Interval 5) { $timed.Add($r) }
    foreach ($r in Invoke-TimedSession -Server $s5Baseline -Client baseline -Tenant 'ttt5-base.bench.test' -ApproveAfter $Plan.Approve5 -Interval 5) { $timed.Add($r) }

    Write-Step "the session's token: $($Plan.CacheCalls) calls that get it back and $($Plan.FreshCalls) fresh sign-ins (-Force), interleaved; $($Plan.RefreshCalls) calls that renew it (tokens for 60 s)"
    $session = Measure-SessionToken -Server $sFast -RefreshServer $sShort

    Write-Step "CPU while waiting for an approval that does not come (ours, baseline, idle pwsh at once; two $($Plan.WaitSeconds) s windows), and meanwhile memory: $($Plan.SignIns) sign-ins in one session (interval 1 s, approved at the first poll)"
    $memoryPart = {
        param($phase, $child)
        if ($phase -eq 'start') { Start-Memory -Server $sFast } else { Wait-Memory $child }
    }
    $cpu = Measure-WaitingCpu -Server $s5 -BaselineServer $s5Baseline -During $memoryPart
    $mem = $cpu.During

    Write-Step "parallel: $($Plan.Parallel) sign-ins at once"
    $par = Measure-Parallel -Server $sFast
}
finally {
    foreach ($c in $children) { Stop-Child $c }
    foreach ($s in $servers) { Stop-Authority $s }
    Remove-Item -Recurse -Force $workDir -ErrorAction SilentlyContinue
}
$benchSeconds = $benchClock.Elapsed.TotalSeconds
if ($RawFile) {
    [pscustomobject]@{ Machine = $machine; Import = $imp; Timed = $timed; Session = $session; Cpu = $cpu; Memory = $mem; Parallel = $par; Seconds = $benchSeconds } |
        Export-Clixml -Path $RawFile -Depth 6
}
}

#region report

$rows = [Collections.Generic.List[object]]::new()
function Add-Row([string] $Measure, [string] $Ours, [string] $Reference = '', [string] $Ratio = '', [string] $Target = '', [string] $Result = '') {
    $rows.Add([pscustomobject]@{ Measure = $Measure; Ours = $Ours; Reference = $Reference; Ratio = $Ratio; Target = $Target; Result = $Result })
}
function Get-Verdict([bool] $ok) { if ($ok) { 'met' } else { '**missed**' } }
function Select-Runs($client, $interval, $immediate) { @($timed | Where-Object { $_.Client -eq $client -and $_.Interval -eq $interval -and $_.Immediate -eq $immediate }) }

# 1. Import, against an empty binary module (one trivial cmdlet, built by the bench)
Add-Row '1. `pwsh -NoProfile -Command exit`' (Format-Stats $imp.Exit)
Add-Row '1. `pwsh -NoProfile -Command "Import-Module <module>"`' (Format-Stats $imp.Ours) "empty binary module: $(Format-Stats $imp.Empty)" (Format-Ratio $imp.Ours $imp.Empty)
# Whole processes swing by hundreds of ms on a busy 2-core machine, far more than the target: reported, and the
# target is judged on the in-session import, where the module's own part is timed inside one process.
Add-Row '1. Whole process: the module minus the empty binary module (median of per-round differences)' (Format-Stats $imp.OursOverEmpty) ("over ``exit``: the module {0} ms, the empty binary module {1} ms (differences of medians)" -f (Format-Signed $imp.OursAddsOverExit), (Format-Signed $imp.EmptyAddsOverExit)) '' 'reported, not judged (process-to-process noise here exceeds the target)'
Add-Row '1. In-session `Import-Module` (a fresh process each, Import-Module already warm)' (Format-Stats $imp.InSession -Decimals 1) "empty binary module: $(Format-Stats $imp.InSessionEmpty -Decimals 1)" (Format-Ratio $imp.InSession $imp.InSessionEmpty)
Add-Row '1. In-session: the module minus the empty binary module (median of per-round differences)' (Format-Stats $imp.InSessionOverEmpty -Decimals 1) '' '' "<= $($Targets.ImportOverEmptyMs) ms" (Get-Verdict ($imp.InSessionOverEmpty.Median -le $Targets.ImportOverEmptyMs))
# Informative: the module ships no format data; where a session's format table was already set up by another
# module (PSReadLine's, in an interactive session), the difference to the empty binary module should not change.
Add-Row '1. In-session, the format system already set up (a module with one view imported first, as PSReadLine''s format data does in an interactive session)' (Format-Stats $imp.FormatWarm -Decimals 1) ("empty binary module: {0}; the module minus it, per round: {1} ms (median); the one-view module's own import (mostly the format-table set-up): {2}" -f (Format-Stats $imp.FormatWarmEmpty -Decimals 1), $(if ($imp.FormatWarmOverEmpty) { $imp.FormatWarmOverEmpty.Median.ToString('N1') } else { 'n/a' }), (Format-Stats $imp.FormatModule -Decimals 1)) (Format-Ratio $imp.FormatWarm $imp.FormatWarmEmpty)
$part = { param($k) $v = $imp.Parts.$k; if ($v) { '{0:N1}' -f $v.Median } else { 'n/a' } }
Add-Row "1. The import part by part, in-session (median of $(if ($imp.Parts.rest) { $imp.Parts.rest.Count } else { 0 }))" ("assembly load {0} ms; native library load and ABI check {1} ms; `$ExecutionContext {2} ms; command routing {3} ms; then ``Import-Module`` {4} ms" -f (& $part assembly), (& $part native), (& $part engine), (& $part routing), (& $part rest)) 'the parts called one by one through reflection (Native.EnsureLoaded, ModuleInitializer.CurrentEngine, CommandRouting.Install), then Import-Module with them done: manifest, cmdlet registration (no format data)'

# 2 and 3. Time to token, ours against the baseline
$allOk = @($timed | Where-Object { -not $_.Ok })
foreach ($interval in 1, 5) {
    $o = @(Select-Runs ours $interval $false); $b = @(Select-Runs baseline $interval $false)
    $note = if ($interval -eq 5) { ' (baseline: server without loop detection)' } else { '' }
    $oa = Get-Stats ($o.ApprovalToToken | Where-Object { $null -ne $_ }); $ba = Get-Stats ($b.ApprovalToToken | Where-Object { $null -ne $_ })
    Add-Row "2. Interval $interval s, approval at a known instant: approval to token on the pipeline$note" (Format-Stats $oa -NoIqr) "baseline: $(Format-Stats $ba -NoIqr)" (Format-Ratio $oa $ba)
    $op = Get-Stats ($o.TokenAfterSuccessfulPoll | Where-Object { $null -ne $_ }); $bp = Get-Stats ($b.TokenAfterSuccessfulPoll | Where-Object { $null -ne $_ })
    Add-Row "2. Interval $interval s: token on the pipeline minus the successful poll's arrival" (Format-Stats $op -NoIqr) "baseline: $(Format-Stats $bp -NoIqr)" (Format-Ratio $op $bp)
    $oAll = @(Select-Runs ours $interval $true) + $o
    $oe = Get-Stats ($oAll.TokenAfterEarliestPoll | Where-Object { $null -ne $_ })
    Add-Row "2. Interval $interval s: token on the pipeline minus the earliest poll the server allows (all approvals)" (Format-Stats $oe -NoIqr) 'baseline: n/a (does not wait for the interval)' '' "<= $($Targets.TokenAfterEarliestPollMs) ms (max)" (Get-Verdict ($oe.Max -le $Targets.TokenAfterEarliestPollMs))
    $ow = Get-Stats $o.Wall; $bw = Get-Stats $b.Wall
    Add-Row "2. Interval $interval s, approval at a known instant: cmdlet wall time" (Format-Stats $ow -NoIqr) "baseline: $(Format-Stats $bw -NoIqr)" (Format-Ratio $ow $bw)
    # The first sign-in of each session also pays for loading code (JIT, Invoke-RestMethod's module): shown
    # apart; the target is judged on the later ones (quick mode has none, and falls back to all).
    $oImm = @(Select-Runs ours $interval $true); $bImm = @(Select-Runs baseline $interval $true)
    $oWarm = @($oImm | Where-Object Index -GT 0); $bWarm = @($bImm | Where-Object Index -GT 0)
    if (-not $oWarm.Count -or -not $bWarm.Count) { $oWarm = $oImm; $bWarm = $bImm }
    $oi = Get-Stats $oWarm.Wall; $bi = Get-Stats $bWarm.Wall
    $ratio = $oi.Median / $bi.Median
    Add-Row "3. Interval $interval s, immediate approval: end to end (cmdlet wall time, not the session's first call)$note" (Format-Stats $oi -NoIqr) "baseline: $(Format-Stats $bi -NoIqr)" ('{0:N2} ({1:N1}x faster)' -f $ratio, (1 / $ratio)) "ours/baseline <= $('{0:N2}' -f (1 / $Targets.SpeedupVsBaseline)) ($($Targets.SpeedupVsBaseline)x faster)" (Get-Verdict ((1 / $ratio) -ge $Targets.SpeedupVsBaseline))
    $oFirst = @($oImm | Where-Object Index -EQ 0)[0]; $bFirst = @($bImm | Where-Object Index -EQ 0)[0]
    Add-Row "3. Interval $interval s, immediate approval: the session's first call" (Format-Ms $oFirst.Wall) "baseline: $(Format-Ms $bFirst.Wall)" ('{0:N2}' -f ($oFirst.Wall / $bFirst.Wall))
}
Add-Row '2-3. Timed sign-ins that returned a token' ("{0} of {1}" -f @($timed | Where-Object { $_.Ok -and $_.Client -eq 'ours' }).Count, @($timed | Where-Object Client -EQ 'ours').Count) ("baseline: {0} of {1}" -f @($timed | Where-Object { $_.Ok -and $_.Client -eq 'baseline' }).Count, @($timed | Where-Object Client -EQ 'baseline').Count) '' 'all' (Get-Verdict ($allOk.Count -eq 0))

# 4. CPU and memory
$pct = { param($ms, $win) '{0:N0} ms CPU ({1:N2}% of one core)' -f $ms, (100 * $ms / $win.window) }
foreach ($part in @(
        @{ Win = $cpu.First; Label = "the first $($Plan.WaitSeconds) s of a wait for approval (interval 5 s)"; Judged = $false }
        @{ Win = $cpu.Later; Label = "$($Plan.WaitSeconds) s of the same wait, $(2 * $Plan.WaitSeconds) s later"; Judged = $true })) {
    $win = $part.Win
    $oursPct = 100 * $win.ours / $win.window
    $target = if ($part.Judged) { "<= $($Targets.WaitCpuPercent)% of one core" } else { '' }
    $verdict = if ($part.Judged) { Get-Verdict ($oursPct -le $Targets.WaitCpuPercent) } else { '' }
    Add-Row "4. CPU time during $($part.Label)" (& $pct $win.ours $win) "baseline: $(& $pct $win.baseline $win); idle pwsh: $(& $pct $win.idle $win)" ('{0:N2}' -f ($win.ours / [Math]::Max(1, $win.baseline))) $target $verdict
}
Add-Row '4. Working set after import' (Format-MB $mem['import'].ws) "before import: $(Format-MB $mem['before-import'].ws) (import adds $(Format-MB ($mem['import'].ws - $mem['before-import'].ws)))"
$e = $mem['early']; $l = $mem['late']
$wsGrowth = $l.ws - $e.ws
$wsAllowed = [Math]::Max($Tolerance.WorkingSetBytes, $Tolerance.WorkingSetFraction * $e.ws)
$grew = ($wsGrowth -gt $wsAllowed) -or ($l.fds - $e.fds -gt $Tolerance.Fds) -or ($l.threads - $e.threads -gt $Tolerance.Threads)
Add-Row "4. After $($e.n) sign-ins: working set / managed heap / fds / threads" ("{0} / {1} / {2} / {3}" -f (Format-MB $e.ws), (Format-MB $e.managed), $e.fds, $e.threads) "after import: $(Format-MB $mem['import'].ws) / $(Format-MB $mem['import'].managed) / $($mem['import'].fds) / $($mem['import'].threads)"
Add-Row "4. After $($l.n) sign-ins: working set / managed heap / fds / threads" ("{0} / {1} / {2} / {3}" -f (Format-MB $l.ws), (Format-MB $l.managed), $l.fds, $l.threads) ("growth since {0}: {1} MB / {2} MB / {3} / {4}; of which since {6} sign-ins: {7} MB; failed sign-ins: {5}" -f $e.n, (Format-Signed ($wsGrowth / 1MB) 1), (Format-Signed (($l.managed - $e.managed) / 1MB) 1), (Format-Signed ($l.fds - $e.fds)), (Format-Signed ($l.threads - $e.threads)), $l.failed, $mem['mid'].n, (Format-Signed (($l.ws - $mem['mid'].ws) / 1MB) 1)) '' ("no growth (working set <= +{0}, fds <= +{1}, threads <= +{2})" -f (Format-MB $wsAllowed), $Tolerance.Fds, $Tolerance.Threads) (Get-Verdict ((-not $grew) -and $l.failed -eq 0))

# 5. Parallel
$parRatio = $par.total / $par.single
Add-Row "5. $($par.n) sign-ins at once (ForEach-Object -Parallel -ThrottleLimit $($par.n)), interval 1 s" ("{0:N0} ms total, {1} of {2} tokens ({3} distinct)" -f $par.total, $par.ok, $par.n, $par.distinct) ("one sign-in in the same session: {0:N0} ms; the same $($par.n) runspaces importing the module and sleeping that long instead of signing in: {1:N0} ms" -f $par.single, $par.runspaces) ('{0:N2} (against the sleeping runspaces: {1:N2})' -f $parRatio, ($par.total / $par.runspaces)) "all succeed; <= $($Targets.ParallelRatio)x one sign-in" (Get-Verdict ($par.ok -eq $par.n -and $par.distinct -eq $par.n -and $parRatio -le $Targets.ParallelRatio))

# 6. One sign-in serves the session: the session's token, a renewal, a fresh sign-in, timed in one session each
$byKind = { param($k) @($session | Where-Object Kind -EQ $k) }
$freshRuns = & $byKind 'fresh'; $cacheRuns = & $byKind 'cache'; $refreshRuns = & $byKind 'refresh'
$fs = Get-Stats @($freshRuns | Where-Object Ok | ForEach-Object Ms)
$cs = Get-Stats @($cacheRuns | Where-Object Ok | ForEach-Object Ms)
$rs = Get-Stats @($refreshRuns | Where-Object Ok | ForEach-Object Ms)
# What each call sent, from the authority's log: the rows measure what they say only if these hold.
$checks = [ordered]@{
    cache   = @($cacheRuns | Where-Object { -not ($_.Ok -and $_.Source -eq 'cache' -and $_.Requests -eq 0) })
    refresh = @($refreshRuns | Where-Object { -not ($_.Ok -and $_.Source -eq 'refresh' -and $_.Requests -eq 1 -and $_.RefreshGrants -eq 1) })
    fresh   = @($freshRuns | Where-Object { -not ($_.Ok -and $_.Source -eq 'device_code' -and $_.DeviceCodeRequests -eq 1 -and $_.DeviceCodeGrants -ge 1 -and $_.RefreshGrants -eq 0) })
}
$checked = {
    param($k, $runs, $what)
    $bad = $checks[$k]
    if ($runs.Count -eq 0) { '**not measured**' }
    elseif ($bad.Count -eq 0) { "checked: $what ($($runs.Count) of $($runs.Count))" }
    else { "**not what the row says** in $($bad.Count) of $($runs.Count): " + (@($bad | Select-Object -First 2 | ForEach-Object { "source $($_.Source), $($_.Requests) requests, $($_.RefreshGrants) refresh grants$(if ($_.Error) { ", $($_.Error)" })" }) -join '; ') }
}
$vsFresh = { param($x) if ($x -and $fs -and $fs.Median -gt 0) { '{0:N4} ({1:N0}x faster)' -f ($x.Median / $fs.Median), ($fs.Median / [Math]::Max(0.001, $x.Median)) } else { 'n/a' } }
Add-Row '6. `Get-D365ODataTokenInteractive` returning the session''s token (no request), in-session' (Format-Stats $cs -Decimals 2) "fresh sign-in: $(Format-Stats $fs -NoIqr)" (& $vsFresh $cs) '' (& $checked 'cache' $cacheRuns 'no request sent, host line "Using this session''s token"')
Add-Row '6. `Get-D365ODataTokenInteractive` renewing the session''s token with one refresh grant (`--token-lifetime 60`), in-session' (Format-Stats $rs -Decimals 2) "fresh sign-in: $(Format-Stats $fs -NoIqr)" (& $vsFresh $rs) '' (& $checked 'refresh' $refreshRuns 'one request, a refresh grant; host line "Renewed this session''s token"')
Add-Row '6. `Get-D365ODataTokenInteractive -Force`: a fresh device code sign-in (approved at once, interval 1 s), in-session' (Format-Stats $fs) '' '' '' (& $checked 'fresh' $freshRuns 'a device code request and its polls; host line "Signed in"')

$report.Add("### Benchmark run ($(if ($Quick) { 'quick mode: smoke numbers only' } else { 'full' }), $(Get-Date -Format 'yyyy-MM-dd'))")
$report.Add('')
foreach ($m in $machine) { $report.Add($m) }
$report.Add('')
$report.Add('| Measure | d365fo.interactive | Baseline / reference | Ratio ours/reference | Target | Result |')
$report.Add('|---|---|---|---|---|---|')
foreach ($r in $rows) { $report.Add("| $($r.Measure) | $($r.Ours) | $($r.Reference) | $($r.Ratio) | $($r.Target) | $($r.Result) |") }
$report.Add('')
$report.Add("Bench wall time: $('{0:N0}' -f $benchSeconds) s. Timings are reported, never enforced: the run fails only if the bench itself breaks.")
if ($allOk.Count) { $report.Add("Failed timed sign-ins: $(@($allOk | ForEach-Object { "$($_.Client)/$($_.Interval)s: $($_.Error)" }) -join '; ')") }
if ($par.errors) { $report.Add("Parallel errors: $(@($par.errors) -join '; ')") }
$sessionErrors = @($session | Where-Object Error)
if ($sessionErrors) { $report.Add("Session token calls that failed: $(@($sessionErrors | Select-Object -First 3 | ForEach-Object { "$($_.Kind): $($_.Error)" }) -join '; ')") }

if ($OutFile) { Set-Content -Path $OutFile -Value $report -Encoding utf8 }
$report

#endregion
