# Helpers for the tests beside d365fo.integrations (dot-sourced after Common.ps1).

function Find-ThirdPartyModules {
    <# The folder holding the unmodified d365fo.integrations, PSFramework and PSOAuthHelper as module folders:
       D365FO_THIRD_PARTY, else the project's shared folder beside the clone. $null when none is there
       (the tests then say so). #>
    $candidates = @($env:D365FO_THIRD_PARTY, (Join-Path $RepoRoot '../shared/third-party'), '/work/shared/third-party') | Where-Object { $_ }
    foreach ($c in $candidates) {
        if (Test-Path (Join-Path $c 'd365fo.integrations/d365fo.integrations.psd1')) { return (Resolve-Path $c).Path }
    }
    $null
}

function Start-ODataStandIn {
    # Starts tests/standin/odata-standin.ps1 in its own pwsh; returns { Url; Process; Log }.
    $log = Join-Path ([IO.Path]::GetTempPath()) "odata-standin-$([guid]::NewGuid()).jsonl"
    $psi = [Diagnostics.ProcessStartInfo]::new($script:PwshExe)
    foreach ($a in @('-NoProfile', '-NonInteractive', '-File', (Join-Path $RepoRoot 'tests/standin/odata-standin.ps1'), '-LogFile', $log)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    $null = $p.StandardError.ReadToEndAsync()
    $read = $p.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(30000) -or $read.Result -notmatch '^READY (http://\S+)') {
        try { $p.Kill() } catch { }
        throw "The OData stand-in did not report READY (got '$($read.Result)')."
    }
    [pscustomobject]@{ Url = $Matches[1]; Process = $p; Log = $log }
}

function Stop-ODataStandIn($StandIn) {
    if (-not $StandIn) { return }
    try { $StandIn.Process.StandardInput.Close() } catch { }
    if (-not $StandIn.Process.WaitForExit(5000)) { $StandIn.Process.Kill() }
    Remove-Item -LiteralPath $StandIn.Log -ErrorAction Ignore
}

function Get-ODataStandInLog($StandIn) {
    if (-not (Test-Path $StandIn.Log)) { return @() }
    @(Get-Content -LiteralPath $StandIn.Log | ForEach-Object { $_ | ConvertFrom-Json })
}

function Clear-ODataStandInLog($StandIn) {
    Remove-Item -LiteralPath $StandIn.Log -ErrorAction Ignore
}
