# The benchmark script (build.ps1 -Task Bench) in its quick mode: it must run end to end against the real module
# and the fake authority and print a table with every row, and its sign-ins must be what the rows say (device
# code sign-ins where a sign-in is timed; the session's token and its renewal where those are). Whether targets
# are met is not asserted here: timing is reported by the bench, never enforced.

BeforeDiscovery {
    # One entry per row of the table: each must match exactly one row, and no row may match none.
    $script:Rows = @(
        @{ Name = 'pwsh -Command exit'; Pattern = '^\| 1\. `pwsh -NoProfile -Command exit` \| [\d,]+ ms' }
        @{ Name = 'pwsh -Command Import-Module beside the empty binary module'; Pattern = '^\| 1\. `pwsh -NoProfile -Command "Import-Module <module>"` \| [\d,]+ ms .*\| empty binary module: [\d,]+ ms .*\| [\d.]+ \|' }
        @{ Name = 'whole processes: the module minus the empty binary module'; Pattern = '^\| 1\. Whole process: the module minus the empty binary module .*\| -?[\d,]+ ms \(min .*\| over `exit`: the module [+-][\d,]+ ms, the empty binary module [+-][\d,]+ ms' }
        @{ Name = 'in-session import beside the empty binary module'; Pattern = '^\| 1\. In-session `Import-Module` .*\| [\d.,]+ ms \(min .*\| empty binary module: [\d.,]+ ms .*\| [\d.]+ \|' }
        @{ Name = 'in-session: the module minus the empty binary module, judged'; Pattern = '^\| 1\. In-session: the module minus the empty binary module .*\| -?[\d.,]+ ms \(min .*\| <= 20 ms \| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'in-session with the format system already set up, beside the empty binary module'; Pattern = '^\| 1\. In-session, the format system already set up .*\| [\d.,]+ ms \(min .*\| empty binary module: [\d.,]+ ms \(min .*; the module minus it, per round: -?[\d.,]+ ms \(median\); the one-view module''s own import \(mostly the format-table set-up\): [\d.,]+ ms \(min .*\| [\d.]+ \|' }
        @{ Name = 'the import part by part (every part found)'; Pattern = '^\| 1\. The import part by part, in-session \(median of 2\) \| assembly load [\d.,]+ ms; native library load and ABI check [\d.,]+ ms; \$ExecutionContext [\d.,]+ ms; command routing [\d.,]+ ms; then `Import-Module` [\d.,]+ ms \| .*\(no format data\)' }
        @{ Name = 'approval to token, interval 1'; Pattern = '^\| 2\. Interval 1 s, approval at a known instant: approval to token .*\| [\d,]+ ms .*\| baseline: [\d,]+ ms' }
        @{ Name = 'approval to token, interval 5'; Pattern = '^\| 2\. Interval 5 s, approval at a known instant: approval to token .*\| [\d,]+ ms .*\| baseline: [\d,]+ ms' }
        @{ Name = 'token after the successful poll, interval 1'; Pattern = '^\| 2\. Interval 1 s: token on the pipeline minus the successful poll' }
        @{ Name = 'token after the successful poll, interval 5'; Pattern = '^\| 2\. Interval 5 s: token on the pipeline minus the successful poll' }
        @{ Name = 'token after the earliest allowed poll, interval 1, judged'; Pattern = '^\| 2\. Interval 1 s: token on the pipeline minus the earliest poll .*\| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'token after the earliest allowed poll, interval 5, judged'; Pattern = '^\| 2\. Interval 5 s: token on the pipeline minus the earliest poll .*\| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'wall time, interval 1'; Pattern = '^\| 2\. Interval 1 s, approval at a known instant: cmdlet wall time \| [\d,]+ ms' }
        @{ Name = 'wall time, interval 5'; Pattern = '^\| 2\. Interval 5 s, approval at a known instant: cmdlet wall time \| [\d,]+ ms' }
        @{ Name = 'immediate approval against the baseline, interval 1, judged'; Pattern = '^\| 3\. Interval 1 s, immediate approval: end to end .*\| [\d.]+ \([\d.]+x faster\) \|.*\| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'immediate approval against the baseline, interval 5, judged'; Pattern = '^\| 3\. Interval 5 s, immediate approval: end to end .*\| [\d.]+ \([\d.]+x faster\) \|.*\| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'first call of a session, interval 1'; Pattern = '^\| 3\. Interval 1 s, immediate approval: the session''s first call \| [\d,]+ ms' }
        @{ Name = 'first call of a session, interval 5'; Pattern = '^\| 3\. Interval 5 s, immediate approval: the session''s first call \| [\d,]+ ms' }
        @{ Name = 'timed sign-ins that succeeded'; Pattern = '^\| 2-3\. Timed sign-ins that returned a token \| \d+ of \d+' }
        @{ Name = 'CPU in the first seconds of a wait'; Pattern = '^\| 4\. CPU time during the first 3 s of a wait .*\| [\d,]+ ms CPU .*idle pwsh: ' }
        @{ Name = 'CPU later in the wait, judged'; Pattern = '^\| 4\. CPU time during 3 s of the same wait, 6 s later .*\| [\d,]+ ms CPU .*idle pwsh: .*\| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'working set after import'; Pattern = '^\| 4\. Working set after import \| [\d.,]+ MB' }
        @{ Name = 'resources after the first sign-ins'; Pattern = '^\| 4\. After 2 sign-ins: working set / managed heap / fds / threads \| [\d.,]+ MB / [\d.,]+ MB / \d+ / \d+' }
        @{ Name = 'resources after all sign-ins, judged'; Pattern = '^\| 4\. After 5 sign-ins: .*\| [\d.,]+ MB / [\d.,]+ MB / \d+ / \d+ \| growth since 2: .*\| (met|\*\*missed\*\*) \|$' }
        @{ Name = 'the session''s token, checked'; Pattern = '^\| 6\. `Get-D365ODataTokenInteractive` returning the session''s token \(no request\), in-session \| [\d.,]+ ms \(min .*\| fresh sign-in: [\d,]+ ms .*\| [\d.]+ \([\d,]+x faster\) \|.*\| checked: no request sent.* \(4 of 4\) \|$' }
        @{ Name = 'a renewal with the refresh grant, checked'; Pattern = '^\| 6\. `Get-D365ODataTokenInteractive` renewing the session''s token with one refresh grant \(`--token-lifetime 60`\), in-session \| [\d.,]+ ms \(min .*\| fresh sign-in: [\d,]+ ms .*\| [\d.]+ \([\d,]+x faster\) \|.*\| checked: one request, a refresh grant.* \(3 of 3\) \|$' }
        @{ Name = 'a fresh device code sign-in, checked'; Pattern = '^\| 6\. `Get-D365ODataTokenInteractive -Force`: a fresh device code sign-in \(approved at once, interval 1 s\), in-session \| [\d,]+ ms \(min .*\| checked: a device code request.* \(2 of 2\) \|$' }
        @{ Name = 'parallel sign-ins, judged'; Pattern = '^\| 5\. 4 sign-ins at once .*\| [\d,]+ ms total, \d+ of 4 tokens .*\| one sign-in in the same session: [\d,]+ ms; the same 4 runspaces importing the module and sleeping that long instead of signing in: [\d,]+ ms \| [\d.]+ \(against the sleeping runspaces: [\d.]+\) \|.*\| (met|\*\*missed\*\*) \|$' }
    )
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:BenchScript = Join-Path $RepoRoot 'tests/bench/Invoke-Bench.ps1'
    $script:ReportFile = Join-Path $TestDrive 'bench.md'
    $script:RawFile = Join-Path $TestDrive 'bench.xml'
    $command = "& '$BenchScript' -ModulePath '$ModulePath' -FakeAuthority '$FakeAuthorityExe' -Quick -OutFile '$ReportFile' -RawFile '$RawFile'"
    $script:run = Invoke-ChildPwsh -Command $command -TimeoutSeconds 420
    $script:tableRows = @($run.StdOut -split "`r?`n" | Where-Object { $_ -match '^\| \d' })
}

Describe 'Invoke-Bench.ps1 -Quick' {
    It 'finishes without error' {
        # A child started with -EncodedCommand sends its host lines as CLIXML on stderr: only errors count.
        $run.StdErr | Should -Not -Match 'S="Error"'
        $run.ExitCode | Should -Be 0
    }

    It 'describes the machine it ran on' {
        $run.StdOut | Should -Match '- CPU: .+; `nproc`: \d+'
        $run.StdOut | Should -Match '- OS: '
        $run.StdOut | Should -Match '- PowerShell \d+\.\d+'
    }

    It 'prints a markdown table with a header, a separator and six columns in every row' {
        $run.StdOut | Should -Match '(?m)^\| Measure \| d365fo\.interactive \| Baseline / reference \| Ratio ours/reference \| Target \| Result \|\r?$'
        $run.StdOut | Should -Match '(?m)^\|---\|---\|---\|---\|---\|---\|\r?$'
        foreach ($r in $tableRows) { ($r.Split('|').Count - 2) | Should -Be 6 -Because $r }
    }

    It 'has a row for <Name>' -ForEach $Rows {
        @($tableRows | Where-Object { $_ -match $Pattern }).Count | Should -Be 1 -Because "one row should match '$Pattern'; rows:`n$($tableRows -join "`n")"
    }

    It 'has no row that the list does not name' -ForEach @(@{ Patterns = @($Rows | ForEach-Object { $_.Pattern }) }) {
        $tableRows.Count | Should -BeGreaterThan 0
        foreach ($r in $tableRows) { @($Patterns | Where-Object { $r -match $_ }).Count | Should -Be 1 -Because $r }
    }

    It 'signs in for real in every part: the timed, memory and parallel sign-ins all returned tokens' {
        $raw = Import-Clixml $RawFile
        @($raw.Timed | Where-Object { -not $_.Ok }).Count | Should -Be 0
        @($raw.Timed).Count | Should -Be 8
        # Each timed sign-in of ours polled with its own device code: a device code sign-in, not the session's token.
        @($raw.Timed | Where-Object { $_.Client -eq 'ours' -and $_.Polls -lt 1 }).Count | Should -Be 0
        $raw.Memory['late'].failed | Should -Be 0
        $raw.Parallel.ok | Should -Be 4
        $raw.Parallel.distinct | Should -Be 4 -Because 'the session''s token would give one token four times'
    }

    It 'times what the session token rows say: no request, one refresh grant, a device code sign-in' {
        $raw = Import-Clixml $RawFile
        $cache = @($raw.Session | Where-Object Kind -EQ 'cache')
        $refresh = @($raw.Session | Where-Object Kind -EQ 'refresh')
        $fresh = @($raw.Session | Where-Object Kind -EQ 'fresh')
        $cache.Count | Should -Be 4
        $refresh.Count | Should -Be 3
        $fresh.Count | Should -Be 2
        foreach ($c in $cache) {
            $c.Ok | Should -BeTrue
            $c.Source | Should -Be 'cache'
            $c.Requests | Should -Be 0 -Because 'the session''s token is handed out without asking the authority'
        }
        foreach ($r in $refresh) {
            $r.Ok | Should -BeTrue
            $r.Source | Should -Be 'refresh'
            $r.Requests | Should -Be 1
            $r.RefreshGrants | Should -Be 1
        }
        foreach ($f in $fresh) {
            $f.Ok | Should -BeTrue
            $f.Source | Should -Be 'device_code'
            $f.DeviceCodeRequests | Should -Be 1
            $f.DeviceCodeGrants | Should -BeGreaterOrEqual 1
            $f.RefreshGrants | Should -Be 0
        }
    }

    It 'measured the import against the empty binary module it built, and every part of the import' {
        $raw = Import-Clixml $RawFile
        $raw.Import.Empty.Count | Should -Be 2
        $raw.Import.InSessionEmpty.Count | Should -Be 2
        $raw.Import.InSessionOverEmpty.Count | Should -Be 2
        $raw.Import.FormatWarm.Count | Should -Be 2
        $raw.Import.FormatWarmEmpty.Count | Should -Be 2
        $raw.Import.FormatModule.Count | Should -Be 4 -Because "the one-view module is imported before both the module and the empty one"
        foreach ($k in 'assembly', 'native', 'engine', 'routing', 'rest') { $raw.Import.Parts.$k.Count | Should -Be 2 -Because $k }
    }

    It 'writes the same report to -OutFile' {
        $file = Get-Content $ReportFile -Raw
        foreach ($r in $tableRows) { $file | Should -Match ([regex]::Escape($r)) }
    }
}
