<# Runs Pester in this (fresh) PowerShell, one Invoke-Pester per test file, and after each file appends one
   JSON line to -ResultFile with that file's counts, its failed tests and its skipped tests with their reasons
   (see Get-SkipReason for where a reason comes from).

   Why one Invoke-Pester per file: build.ps1 watches this process and kills it when a test runs longer than
   the time limit (Pester 5 has no per-test timeout, and a hung native call cannot be interrupted from inside).
   What the files finished before the kill reported is then already on disk, and build.ps1 starts this script
   again with the files that have not run. Costs one Pester run set-up per file, not one PowerShell start.

   The lines build.ps1 reads from this process's output: "##[pester-file] <path>" before each file, and
   Pester's own Detailed lines with start markers ("[|] <test>..." when a test starts, "[+]/[-]/[!]/[?] <test>"
   when it ends, "Describing"/"Context"). The time limit comes from D365FO_TEST_TIMEOUT_SECONDS (set by
   build.ps1, whose watchdog enforces it; this script only reports it).

   Written for Windows PowerShell 5.1 as well: build.ps1 -TestHost WindowsPowerShell runs it under powershell.exe. #>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    # Test files or folders (searched for *.Tests.ps1, as Pester does), separated by [IO.Path]::PathSeparator.
    [Parameter(Mandatory)] [string] $Path,
    # JSON lines, one per finished file; appended to, so a restarted run adds to what the killed one wrote.
    [Parameter(Mandatory)] [string] $ResultFile,
    # Ansi when build.ps1 writes to a terminal, Plaintext for logs; Auto lets Pester decide.
    [ValidateSet('Auto', 'Ansi', 'Plaintext')] [string] $RenderMode = 'Auto'
)
$ErrorActionPreference = 'Stop'
# build.ps1 reads this output as UTF-8 (test names are not all ASCII).
try { [Console]::OutputEncoding = New-Object Text.UTF8Encoding $false } catch { }
Import-Module $PesterPath -Force

if ($env:D365FO_TEST_TIMEOUT_SECONDS) {
    Write-Host "Time limit per test: $env:D365FO_TEST_TIMEOUT_SECONDS s (build.ps1 stops this run when no test finishes for that long)."
}

$files = @(foreach ($p in $Path -split [IO.Path]::PathSeparator) {
    if (-not $p) { continue }
    if (Test-Path -LiteralPath $p -PathType Container) {
        Get-ChildItem -LiteralPath $p -Recurse -File -Filter '*.Tests.ps1' | Sort-Object FullName | ForEach-Object { $_.FullName }
    } else {
        (Resolve-Path -LiteralPath $p).Path
    }
})

function Get-TestName($Test) {
    # "Describe > Context > It", as a person reads it (Pester's ExpandedPath joins with dots, which names contain).
    $names = @($Test.ExpandedName)
    $block = $Test.Block
    while ($block -and -not $block.IsRoot) { $names = @($block.ExpandedName) + $names; $block = $block.Parent }
    $names -join ' > '
}

function Get-ResultReason($Test) {
    # The text after "because" that Set-ItResult -Skipped/-Inconclusive -Because put into the test's error record.
    foreach ($e in @($Test.ErrorRecord)) {
        if ($e -and "$($e.Exception.Message)" -match '^is (?:skipped|inconclusive|pending), because (.+)$') { return $Matches[1].Trim() }
    }
    ''
}

function Get-SkipReason($Test) {
    <# Why a test was skipped: Set-ItResult -Skipped -Because inside it, else the nearest "SkipReason: <reason>"
       tag on the test or an enclosing Describe/Context. Pester's -Skip is a switch evaluated at discovery,
       before any BeforeAll (or Common.ps1) runs, so the reason travels as a tag next to it:
           It 'x' -Skip:(-not $IsWindows) -Tag 'SkipReason: Windows only' { ... }
       '' when there is none; build.ps1 fails the run for skips without a reason or with one that is not in
       tests/allowed-skips.txt. #>
    $reason = Get-ResultReason $Test
    if ($reason) { return $reason }
    $tags = @($Test.Tag)
    $block = $Test.Block
    while ($block) {
        $tags += @($block.Tag)
        if ($block.IsRoot) { break }
        $block = $block.Parent
    }
    foreach ($t in $tags) {
        if ("$t" -match '^SkipReason:\s*(.+)$') { return $Matches[1].Trim() }
    }
    ''
}

$utf8 = New-Object Text.UTF8Encoding $false
foreach ($file in $files) {
    Write-Host "##[pester-file] $file"
    $config = New-PesterConfiguration
    $config.Run.Path = $file
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Detailed'
    $config.Output.RenderMode = $RenderMode
    $config.Should.ErrorAction = 'Stop'
    # "[|] <test>..." when each test starts, so the watchdog can name the test that never finished.
    $config.Debug.ShowStartMarkers = $true
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $result = Invoke-Pester -Configuration $config
    $seconds = [math]::Round($clock.Elapsed.TotalSeconds, 1)

    $failedNames = @($result.Failed | ForEach-Object { Get-TestName $_ }) +
        @($result.FailedBlocks | ForEach-Object { "$($_.ExpandedName) (BeforeAll/AfterAll)" }) +
        @($result.FailedContainers | ForEach-Object { "$file (the file itself, e.g. at discovery)" })
    # Set-ItResult -Inconclusive is not a pass: it counts as a failure, with its reason.
    $inconclusive = @($result.Tests | Where-Object { $_.Result -eq 'Inconclusive' })
    $failedNames += @($inconclusive | ForEach-Object { "$(Get-TestName $_) (inconclusive: $(Get-ResultReason $_))" })
    $skips = @($result.Tests | Where-Object { $_.Result -eq 'Skipped' } | ForEach-Object {
        [ordered]@{ Name = (Get-TestName $_); Reason = (Get-SkipReason $_) }
    })
    $record = [ordered]@{
        File = $file
        Passed = $result.PassedCount
        Failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount + $inconclusive.Count
        Skipped = $result.SkippedCount
        FailedNames = $failedNames
        Skips = $skips
        Seconds = $seconds
    }
    [IO.File]::AppendAllText($ResultFile, ($record | ConvertTo-Json -Compress -Depth 5) + "`n", $utf8)
}
