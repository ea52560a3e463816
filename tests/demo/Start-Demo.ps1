<#
.SYNOPSIS
The README's main job (build.ps1 -Task Demo): a real device code sign-in with the built module against the
bundled local authority, which behaves like Entra ID for a person: a device-login page where you type the
code and click "Sign in".

.DESCRIPTION
Starts rust/fake_authority on 127.0.0.1, points the module at it with D365FO_AUTHORITY (for this process
only), and runs what a user runs:
    Get-D365ODataTokenInteractive -Tenant ... -Url ... | Set-D365ODataTokenInSession
The cmdlet copies the code to the clipboard, opens the browser on the local device-login page, shows a
countdown, and returns when you approve. Without a display it prints the URL and the code and waits: open the
URL in any browser on this machine. -AutoApprove lets the authority approve by itself after a few seconds and
ends by printing the Bearer string.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $FakeAuthority,
    [switch] $AutoApprove,
    [int] $AutoApproveSeconds = 3
)
$ErrorActionPreference = 'Stop'

$authorityArgs = @('--port', '0', '--interval', '2', '--exit-on-stdin-eof')
if ($AutoApprove) { $authorityArgs += @('--auto-approve-secs', "$AutoApproveSeconds") }
$psi = [Diagnostics.ProcessStartInfo]::new($FakeAuthority)
foreach ($a in $authorityArgs) { $psi.ArgumentList.Add($a) }
$psi.RedirectStandardInput = $true
$psi.RedirectStandardOutput = $true
$psi.UseShellExecute = $false
$authority = [Diagnostics.Process]::Start($psi)
try {
    $ready = $authority.StandardOutput.ReadLine()
    if ($ready -notmatch '^READY (http://\S+)') { throw "The local authority did not start (it said '$ready')." }
    $url = $Matches[1].TrimEnd('/')
    $null = $authority.StandardOutput.ReadToEndAsync()

    $env:D365FO_AUTHORITY = $url
    Import-Module (Join-Path $ModulePath 'd365fo.interactive.psd1') -Force
    Write-Host ''
    Write-Host "d365fo.interactive $((Get-Module d365fo.interactive).Version) (native core $([D365fo.Interactive.NativeCore]::Version)) against the LOCAL TEST AUTHORITY at $url"
    Write-Host 'No Microsoft tenant is involved; the token it issues is a stand-in.'
    if ($AutoApprove) { Write-Host "The authority approves by itself after $AutoApproveSeconds seconds (-AutoApprove)." }
    else { Write-Host 'Open the page below, type the code, and click "Sign in" (or "Deny"). Ctrl+C stops.' }
    Write-Host ''
    Write-Host '> Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com | Set-D365ODataTokenInSession'
    Write-Host ''

    $token = Get-D365ODataTokenInteractive -Tenant 'contoso.onmicrosoft.com' -Url 'https://contoso.operations.dynamics.com' -EnableException
    $token | Set-D365ODataTokenInSession

    $default = $global:PSDefaultParameterValues['*:Token']
    Write-Host ''
    Write-Host "Signed in. `$PSDefaultParameterValues['*:Token'] now holds the token ($($default.Length) characters), so every"
    Write-Host 'command with a -Token parameter (for example the OData commands of d365fo.integrations) gets it by default.'
    Write-Host ''
    Write-Host 'The bearer token:'
    Write-Output $token
}
finally {
    try { $authority.StandardInput.Close() } catch { }
    if (-not $authority.WaitForExit(3000)) { $authority.Kill() }
}
