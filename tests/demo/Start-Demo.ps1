<#
.SYNOPSIS
The README's main job (build.ps1 -Task Demo): a real device code sign-in with the built module against the
bundled local authority, which behaves like Entra ID for a person: a device-login page where you type the
code and click "Sign in".

.DESCRIPTION
Starts rust/fake_authority on 127.0.0.1, points the module at it with D365FO_AUTHORITY (for this run only),
and runs what a user runs:
    Get-D365ODataTokenInteractive -Tenant ... -Url ... | Set-D365ODataTokenInSession
The cmdlet copies the code to the clipboard, opens the browser on the local device-login page, shows a
countdown, and returns when you approve. Without a display it prints the URL and the code and waits: open the
URL in any browser on this machine. -AutoApprove lets the authority approve by itself after a few seconds (no
browser is opened) and ends by printing the Bearer string as the last line of output.

It then asks for the token a second time, as a script run twice would: the session's token comes back at once
(one sign-in serves the session).

Everything the demo changes in the session (D365FO_AUTHORITY, D365FO_NO_BROWSER, the default -Token) is put
back when it ends, so running it inside your own pwsh leaves nothing pointing at the local authority.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $FakeAuthority,
    [switch] $AutoApprove,
    [int] $AutoApproveSeconds = 3
)
$ErrorActionPreference = 'Stop'

$Tenant = 'contoso.onmicrosoft.com'
$Resource = 'https://contoso.operations.dynamics.com'

$DefaultKeys = '*-D365*:Token', '*:Token'
$saved = @{
    Authority = $env:D365FO_AUTHORITY
    NoBrowser = $env:D365FO_NO_BROWSER
    Defaults  = @{}
}
foreach ($k in $DefaultKeys) { if ($global:PSDefaultParameterValues.ContainsKey($k)) { $saved.Defaults[$k] = $global:PSDefaultParameterValues[$k] } }
# `manual`: only the page (or -AutoApprove's timer) approves; the default scenario would approve by itself.
$authorityArgs = @('--port', '0', '--interval', '2', '--scenario', 'manual', '--exit-on-stdin-eof')
if ($AutoApprove) { $authorityArgs += @('--auto-approve-secs', "$AutoApproveSeconds") }
$psi = [Diagnostics.ProcessStartInfo]::new($FakeAuthority)
foreach ($a in $authorityArgs) { $psi.ArgumentList.Add($a) }
$psi.RedirectStandardInput = $true
$psi.RedirectStandardOutput = $true
$psi.UseShellExecute = $false
$authority = [Diagnostics.Process]::Start($psi)
$failed = $false
try {
    $ready = $authority.StandardOutput.ReadLine()
    if ($ready -notmatch '^READY (http://\S+)') { throw "The local authority did not start (it said '$ready')." }
    $url = $Matches[1].TrimEnd('/')
    $null = $authority.StandardOutput.ReadToEndAsync()

    $env:D365FO_AUTHORITY = $url
    if ($AutoApprove) { $env:D365FO_NO_BROWSER = '1' }
    Import-Module (Join-Path (Resolve-Path -LiteralPath $ModulePath) 'd365fo.interactive.psd1') -Force
    Write-Host ''
    Write-Host "== Demo: d365fo.interactive $((Get-Module d365fo.interactive).Version) (native core $([D365fo.Interactive.NativeCore]::Version))"
    Write-Host "The sign-in goes to a LOCAL TEST AUTHORITY at $url (D365FO_AUTHORITY, for this run only)."
    Write-Host 'No Microsoft account or tenant is involved; the token it issues is a stand-in.'
    if ($AutoApprove) {
        Write-Host "-AutoApprove: no browser is opened; the authority approves the sign-in by itself after $AutoApproveSeconds seconds."
    } else {
        Write-Host 'What to do: the command below prints a page address and a code. Open the page in a browser on this'
        Write-Host 'machine (it opens by itself when there is a display), enter the code (it is on your clipboard when'
        Write-Host 'there is one), and click "Sign in" - or "Deny" to see a declined sign-in. Ctrl+C stops the demo.'
    }
    Write-Host 'While it waits, PowerShell shows a countdown in its progress bar.'
    Write-Host ''
    Write-Host "PS> Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource | Set-D365ODataTokenInSession"

    try {
        $token = Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource
    } catch {
        $failed = $true
        Write-Host ''
        Write-Host "The sign-in did not complete: $($_.Exception.Message)"
        Write-Host "(error id $($_.FullyQualifiedErrorId.Split(',')[0]), category $($_.CategoryInfo.Category)). What the authority says"
        Write-Host 'stops a script, as it does with d365fo.integrations; a try/catch sees it. Run the demo again to retry.'
        return
    }
    $token | Set-D365ODataTokenInSession

    Write-Host ''
    Write-Host 'The same command again, as a script run twice in this session would:'
    Write-Host "PS> Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource"
    $again = Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource
    if ($again -ne $token) { throw 'The second call did not return the session''s token.' }
    Write-Host ''
    Write-Host 'What a script does next:'
    Write-Host "- Set-D365ODataTokenInSession (in the pipeline above) made the token the default -Token of the D365 commands"
    Write-Host "  in this session (`$PSDefaultParameterValues['*-D365*:Token']), renewed without a new sign-in while the"
    Write-Host '  session lasts, so the OData commands of d365fo.integrations use it without being told, for example:'
    Write-Host "      Get-D365ODataEntityData -EntityName CustomersV3 -Top 5"
    Write-Host '- A script that calls the OData service itself sends the string as the Authorization header:'
    Write-Host "      Invoke-RestMethod -Uri '$Resource/data/CustomersV3' -Headers @{ Authorization = `$token }"
    Write-Host ''
    Write-Host 'The demo now puts your session back as it was. The bearer string the command returned:'
    Write-Output $token
}
finally {
    $env:D365FO_AUTHORITY = $saved.Authority
    $env:D365FO_NO_BROWSER = $saved.NoBrowser
    foreach ($k in $DefaultKeys) {
        if ($saved.Defaults.ContainsKey($k)) { $global:PSDefaultParameterValues[$k] = $saved.Defaults[$k] }
        else { $global:PSDefaultParameterValues.Remove($k) }
    }
    try { $authority.StandardInput.Close() } catch { }
    if (-not $authority.WaitForExit(3000)) { $authority.Kill() }
    if ($failed) { exit 1 }
}
