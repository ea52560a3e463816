# A sign-in on Windows in this very PowerShell: Windows PowerShell 5.1 in the workflow's 5.1 job, PowerShell 7
# for Windows (under Wine on this project's machines, natively in the workflow). Against the fake authority,
# with the registry store in a key of this test's own; PSFramework's real key stays as it was. Written for
# Windows PowerShell 5.1 as well (no PowerShell 7 syntax, no child pwsh).

BeforeDiscovery {
    $script:OnWindows = [Environment]::OSVersion.Platform -eq 'Win32NT'
}

BeforeAll {
    if ([Environment]::OSVersion.Platform -ne 'Win32NT') { return }
    $RealKey = 'HKCU:\SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default'
    function Get-KeyValues([string] $Path) {
        if (-not (Test-Path $Path)) { return '' }
        $item = Get-Item $Path
        (@($item.GetValueNames() | Sort-Object | ForEach-Object { "$_=$($item.GetValue($_))" }) -join "`n")
    }
    $RealBefore = Get-KeyValues $RealKey
    $Key = "Software\d365fo.interactive.tests\signin-$([guid]::NewGuid().ToString('n'))"
    $Saved = @{}
    foreach ($n in 'D365FO_CONFIG_REGISTRY_KEY', 'D365FO_AUTHORITY', 'D365FO_NO_BROWSER', 'D365FO_CONFIG_FILE') { $Saved[$n] = [Environment]::GetEnvironmentVariable($n) }

    $FakeAuthority = $null
    $AuthorityUrl = $env:D365FO_TEST_AUTHORITY_URL
    if (-not $AuthorityUrl) {
        # The fake authority of this build, on a port of its own; it ends when its standard input closes.
        $psi = New-Object Diagnostics.ProcessStartInfo $env:D365FO_TEST_FAKE_AUTHORITY
        $psi.Arguments = '--port 0 --exit-on-stdin-eof --interval 1'
        $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
        $FakeAuthority = [Diagnostics.Process]::Start($psi)
        $null = $FakeAuthority.StandardError.ReadToEndAsync()
        $line = $FakeAuthority.StandardOutput.ReadLine()
        if ($line -notmatch '^READY (https?://\S+)') { throw "The fake authority did not report READY (got '$line')." }
        $AuthorityUrl = $Matches[1].TrimEnd('/')
    }
    $env:D365FO_CONFIG_REGISTRY_KEY = $Key
    $env:D365FO_AUTHORITY = $AuthorityUrl
    $env:D365FO_NO_BROWSER = '1'
    $env:D365FO_CONFIG_FILE = $null
    Import-Module (Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1') -Force
    function Get-DeviceCodeRequests {
        @(Invoke-RestMethod -Uri "$AuthorityUrl/_test/log" -UseBasicParsing | ForEach-Object { $_ } | Where-Object { $_.endpoint -eq 'devicecode' }).Count
    }
}

AfterAll {
    if ([Environment]::OSVersion.Platform -ne 'Win32NT') { return }
    Remove-Module d365fo.interactive -ErrorAction SilentlyContinue
    Remove-Item -LiteralPath "HKCU:\$Key" -Recurse -Force -ErrorAction SilentlyContinue
    foreach ($n in $Saved.Keys) { [Environment]::SetEnvironmentVariable($n, $Saved[$n]) }
    if ($FakeAuthority) {
        try { $FakeAuthority.StandardInput.Close() } catch { }
        if (-not $FakeAuthority.WaitForExit(3000)) { $FakeAuthority.Kill() }
    }
}

Describe 'A sign-in on Windows in this PowerShell' -Skip:(-not $script:OnWindows) -Tag 'SkipReason: Windows only' {
    It 'signs in against the fake authority, reuses the token, and signs in again with -Force' {
        $before = Get-DeviceCodeRequests
        $a = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com -EnableException
        $b = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com -EnableException
        $c = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com -Force -EnableException
        "$a" | Should -BeLike 'Bearer *'
        "$b" | Should -Be "$a"
        "$c" | Should -BeLike 'Bearer *'
        "$c" | Should -Not -Be "$a"
        (Get-DeviceCodeRequests) - $before | Should -Be 2
        { $c | Set-D365ODataTokenInSession } | Should -Not -Throw
    }

    It 'writes configurations to the registry key it was given and reads them back' {
        Add-D365ODataConfig -Name WinSignIn -Tenant contoso.onmicrosoft.com -Url https://winsignin.operations.dynamics.com -EnableException
        Set-D365ActiveODataConfig -Name WinSignIn -EnableException
        (Get-D365ActiveODataConfig -EnableException).Name | Should -Be 'WinSignIn'
        (Get-Item "HKCU:\$Key").GetValue('d365fo.integrations.odata.winsignin.url') | Should -Be 'String:https://winsignin.operations.dynamics.com'
    }

    It 'left PSFramework''s real registry key as it was' {
        Get-KeyValues $RealKey | Should -BeExactly $RealBefore
    }
}
