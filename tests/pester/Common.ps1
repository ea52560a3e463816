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
    $p = [Diagnostics.Process]::Start($psi)
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
