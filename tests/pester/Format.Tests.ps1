# The module's views show tokens and configurations in a short table and never print a whole access token,
# refresh token or client secret. The objects are built here with the type names the cmdlets give them
# (the views select by type name), with the token response fields of v1 and v2 as Entra sends them.
# Written for Windows PowerShell 5.1 as well: CI runs this file under powershell.exe on Windows.

BeforeAll {
    Import-Module (Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1') -Force
    function New-Typed([string] $TypeName, [hashtable] $Properties) {
        $o = New-Object psobject
        foreach ($k in $Properties.Keys | Sort-Object) { $o | Add-Member -NotePropertyName $k -NotePropertyValue $Properties[$k] }
        $o.PSObject.TypeNames.Insert(0, $TypeName)
        $o
    }
    # Distinct markers in the middle of each secret: seeing one in the output means a secret leaked.
    $script:AccessToken = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.' + ('a' * 600) + 'ACCESSMIDDLE' + ('b' * 600) + '.sig'
    $script:RefreshToken = '0.AAAA' + ('r' * 300) + 'REFRESHMIDDLE' + ('r' * 300)
    $script:IdToken = 'eyJpZCI6MX0.' + ('i' * 100) + 'IDMIDDLE' + ('i' * 100)
    $script:ExpiresOn = 1893456000
    $script:V1 = New-Typed 'D365fo.Interactive.ODataToken' @{
        token_type = 'Bearer'; scope = 'user_impersonation'; expires_in = '3599'; ext_expires_in = '3599'
        expires_on = [string]$ExpiresOn; not_before = '1893452100'; resource = 'https://contoso.operations.dynamics.com'
        access_token = $AccessToken; refresh_token = $RefreshToken; id_token = $IdToken; foci = '1'
    }
    $script:V2 = New-Typed 'D365fo.Interactive.ODataToken' @{
        token_type = 'Bearer'; scope = 'https://contoso.operations.dynamics.com/.default'; expires_in = 4825; ext_expires_in = 4825
        access_token = $AccessToken; refresh_token = $RefreshToken
    }
    $script:Secret = 'Sup3r~SECRETMIDDLE~value'
    $script:Config = New-Typed 'D365fo.Interactive.ODataConfig' @{
        name = 'UAT'; tenant = 'e674da86-7ee5-40a7-b777-1111111111111'; url = 'https://uat.sandbox.operations.dynamics.com'
        systemurl = 'https://uat.sandbox.operations.dynamics.com'; clientid = 'dea8d7a9-1602-4429-b138-111111111111'; clientsecret = $Secret
    }
    function Assert-NoSecret([string] $Text) {
        foreach ($marker in 'ACCESSMIDDLE', 'REFRESHMIDDLE', 'IDMIDDLE', 'SECRETMIDDLE', '.sig') { $Text | Should -Not -Match ([regex]::Escape($marker)) }
    }
}

Describe 'The token view (D365fo.Interactive.ODataToken)' {
    It 'is loaded with the module as a table view and a list view' {
        $views = @((Get-FormatData -TypeName 'D365fo.Interactive.ODataToken').FormatViewDefinition)
        @($views | ForEach-Object { $_.Control.GetType().Name }) | Should -Be @('TableControl', 'ListControl')
    }

    It 'shows a v1 token as type, resource, expiry in local time and a masked token' {
        $text = $V1 | Out-String -Width 250
        $lines = @($text -split '\r?\n' | Where-Object { $_.Trim() })
        $lines[0] | Should -Match '^TokenType\s+Resource/Scope\s+Expires\s+AccessToken\s*$'
        $expected = [DateTimeOffset]::FromUnixTimeSeconds($ExpiresOn).LocalDateTime.ToString()
        $lines[2] | Should -Match ('^Bearer\s+https://contoso\.operations\.dynamics\.com\s+' + [regex]::Escape($expected) + '\s+eyJ0eX\.\.\.\(' + $AccessToken.Length + ' chars\)\s*$')
        Assert-NoSecret $text
    }

    It 'shows a v2 token with its scope and expires_in, as a v2 response says no time' {
        $text = $V2 | Format-Table | Out-String -Width 250
        $text | Should -Match 'https://contoso\.operations\.dynamics\.com/\.default\s+expires_in 4825 s\s+eyJ0eX\.\.\.'
        Assert-NoSecret $text
    }

    It 'masks the tokens in the list view too' {
        $text = $V1 | Format-List | Out-String -Width 250
        $text | Should -Match 'access_token\s+: eyJ0eX\.\.\.\(\d+ chars\)'
        $text | Should -Match 'refresh_token\s+: \*\*\*\(\d+ chars\)'
        $text | Should -Match 'resource\s+: https://contoso\.operations\.dynamics\.com'
        Assert-NoSecret $text
    }

    It 'never prints the token when several are shown together' {
        Assert-NoSecret (@($V1, $V2) | Out-String -Width 400)
    }

    It 'shows a short token without any of its characters' {
        $short = New-Typed 'D365fo.Interactive.ODataToken' @{ token_type = 'Bearer'; scope = 's'; expires_in = 1; access_token = 'abcdefXYZ' }
        $text = $short | Out-String
        $text | Should -Match '\*\*\*\(9 chars\)'
        $text | Should -Not -Match 'abc|XYZ'
    }

    It 'keeps the full token available by name' {
        $V1.access_token | Should -Be $AccessToken
    }
}

Describe 'The configuration view (D365fo.Interactive.ODataConfig)' {
    It 'shows name, tenant, url, system url, client id and a masked secret' {
        $text = $Config | Out-String -Width 300
        $lines = @($text -split '\r?\n' | Where-Object { $_.Trim() })
        $lines[0] | Should -Match '^Name\s+Tenant\s+Url\s+SystemUrl\s+ClientId\s+ClientSecret\s*$'
        $lines[2] | Should -Match '^UAT\s+e674da86-7ee5-40a7-b777-1111111111111\s+https://uat\.sandbox\.operations\.dynamics\.com\s+https://uat\.sandbox\.operations\.dynamics\.com\s+dea8d7a9-1602-4429-b138-111111111111\s+\*{8}\s*$'
        Assert-NoSecret $text
    }

    It 'masks the secret in the list view and in Format-Table' {
        Assert-NoSecret ($Config | Format-List | Out-String -Width 300)
        Assert-NoSecret ($Config | Format-Table | Out-String -Width 300)
        ($Config | Format-List | Out-String) | Should -Match 'ClientSecret\s+: \*{8}'
    }

    It 'shows no mask when there is no secret' {
        $noSecret = New-Typed 'D365fo.Interactive.ODataConfig' @{ name = 'Interactive'; tenant = 't'; url = 'https://u'; systemurl = ''; clientid = ''; clientsecret = '' }
        ($noSecret | Format-List | Out-String) | Should -Match 'ClientSecret\s+:\s*(\r?\n|$)'
    }
}
