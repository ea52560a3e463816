# The module's views: a token and a configuration show as a list (every scope and the full Url readable at 80
# columns), Format-Table gives a wrapped table, a token is never printed, and a client secret shows only in
# the view of objects returned with -ShowSecret. The objects are built here with the type names and the
# properties the cmdlets give them (the views select by type name): the token response fields of v1 and v2 as
# Entra sends them, plus ExpiresOn. Written for Windows PowerShell 5.1 as well: CI runs this file under
# powershell.exe on Windows.

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
    $script:ExpiresOn = [DateTimeOffset]::FromUnixTimeSeconds(1893456000).ToLocalTime()
    $script:V1 = New-Typed 'D365fo.Interactive.ODataToken' @{
        token_type = 'Bearer'; scope = 'user_impersonation'; expires_in = '3599'; ext_expires_in = '3599'
        expires_on = '1893456000'; not_before = '1893452100'; resource = 'https://contoso.operations.dynamics.com'
        access_token = $AccessToken; refresh_token = $RefreshToken; id_token = $IdToken; foci = '1'; ExpiresOn = $ExpiresOn
    }
    # A v2 answer with the long scope list D365FO grants: it must not push anything off the screen.
    $script:Scopes = @('AX.FullAccess', 'CustomService.FullAccess', 'Odata.FullAccess', 'user_impersonation') | ForEach-Object { "https://contoso.operations.dynamics.com/$_" }
    $script:V2 = New-Typed 'D365fo.Interactive.ODataToken' @{
        token_type = 'Bearer'; scope = ($Scopes -join ' '); expires_in = 4825; ext_expires_in = 4825
        access_token = $AccessToken; refresh_token = $RefreshToken; ExpiresOn = $ExpiresOn
    }
    $script:Secret = 'Sup3r~SECRETMIDDLE~value'
    # A Url of a realistic length fits an 80-column list line; a longer one wraps there, and is never cut.
    $script:LongUrl = 'https://contoso-uat-finance.sandbox.operations.dynamics.com'
    $script:VeryLongUrl = 'https://contoso-uat-environment-with-a-very-long-name.sandbox.operations.dynamics.com'
    $script:ConfigValues = @{
        name = 'UAT'; tenant = 'e674da86-7ee5-40a7-b777-111111111111'; url = $LongUrl
        systemurl = $LongUrl; clientid = 'dea8d7a9-1602-4429-b138-111111111111'; clientsecret = $Secret
    }
    $script:Config = New-Typed 'D365fo.Interactive.ODataConfig' $ConfigValues
    $script:ConfigShown = New-Typed 'D365fo.Interactive.ODataConfigWithSecret' $ConfigValues

    function Assert-NoSecret([string] $Text, [string[]] $Markers = @('ACCESSMIDDLE', 'REFRESHMIDDLE', 'IDMIDDLE', 'SECRETMIDDLE', '.sig')) {
        foreach ($marker in $Markers) { $Text | Should -Not -Match ([regex]::Escape($marker)) }
    }
    function Get-Lines([string] $Text) { @($Text -split '\r?\n' | Where-Object { $_.Trim() }) }
    function Get-TableColumn([string] $Text, [string] $Header) {
        <# One column of a table as Format-Table printed it, its wrapped pieces joined: the column's place comes
           from the header line and the dashes under it. #>
        $lines = @($Text -split '\r?\n' | Where-Object { $_.Trim() })
        $dashes = $lines[1]
        $start = $lines[0].IndexOf($Header)
        $end = $dashes.IndexOf(' ', $start + 1)
        if ($end -lt 0) { $end = [int]::MaxValue }
        -join @($lines[2..($lines.Count - 1)] | ForEach-Object {
            if ($_.Length -gt $start) { $_.Substring($start, [Math]::Min($end, $_.Length) - $start).Trim() }
        })
    }
}

Describe 'The token view (D365fo.Interactive.ODataToken)' {
    It 'is loaded with the module: a list by default, and a table' {
        $views = @((Get-FormatData -TypeName 'D365fo.Interactive.ODataToken').FormatViewDefinition)
        @($views | ForEach-Object { $_.Control.GetType().Name }) | Should -Be @('ListControl', 'TableControl')
    }

    It 'shows a v1 token as type, resource, expiry and the lengths of its tokens, and no token' {
        $text = $V1 | Out-String -Width 80
        $text | Should -Match 'TokenType\s+: Bearer'
        $text | Should -Match 'Resource\s+: https://contoso\.operations\.dynamics\.com'
        $text | Should -Match ('ExpiresOn\s+: ' + [regex]::Escape($ExpiresOn.ToString()))
        $text | Should -Match ('AccessToken\s+: \*\*\* \(' + $AccessToken.Length + ' characters, not shown\)')
        $text | Should -Match ('RefreshToken\s+: \*\*\* \(' + $RefreshToken.Length + ' characters, not shown\)')
        $text | Should -Match ('IdToken\s+: \*\*\* \(' + $IdToken.Length + ' characters, not shown\)')
        Assert-NoSecret $text
    }

    It 'keeps every v2 scope readable at 80 columns, one per line, and no line is wider than the screen' {
        $text = $V2 | Out-String -Width 80
        foreach ($s in $Scopes) { $text | Should -Match ([regex]::Escape($s)) }
        foreach ($line in Get-Lines $text) { $line.TrimEnd().Length | Should -BeLessOrEqual 80 }
        Assert-NoSecret $text
    }

    It 'shows type, expiry and a masked token in Format-Table' {
        $lines = Get-Lines ($V1 | Format-Table | Out-String -Width 120)
        $lines[0] | Should -Match '^TokenType\s+ExpiresOn\s+AccessToken\s*$'
        $lines[2] | Should -Match ('^Bearer\s+' + [regex]::Escape($ExpiresOn.ToString()) + '\s+\*\*\* \(' + $AccessToken.Length + ' characters\)\s*$')
        Assert-NoSecret ($V1 | Format-Table | Out-String -Width 400)
    }

    It 'never prints a token when several are shown together' {
        Assert-NoSecret (@($V1, $V2) | Out-String -Width 400)
    }

    It 'shows a short token without any of its characters' {
        $short = New-Typed 'D365fo.Interactive.ODataToken' @{ token_type = 'Bearer'; scope = 's'; expires_in = 1; access_token = 'abcdefXYZ' }
        $text = $short | Out-String
        $text | Should -Match '\*\*\* \(9 characters, not shown\)'
        $text | Should -Not -Match 'abc|XYZ'
    }

    It 'keeps the full token available by name' {
        $V1.access_token | Should -Be $AccessToken
    }
}

Describe 'The configuration view (D365fo.Interactive.ODataConfig)' {
    It 'shows name, tenant, the full Url and SystemUrl, client id and a masked secret as a list at 80 columns' {
        $text = $Config | Out-String -Width 80
        $text | Should -Match 'Name\s+: UAT'
        $text | Should -Match 'Tenant\s+: e674da86-7ee5-40a7-b777-111111111111'
        $text | Should -Match ('Url\s+: ' + [regex]::Escape($LongUrl))
        $text | Should -Match ('SystemUrl\s+: ' + [regex]::Escape($LongUrl))
        $text | Should -Match 'ClientId\s+: dea8d7a9-1602-4429-b138-111111111111'
        $text | Should -Match 'ClientSecret\s+: \*{8}'
        Assert-NoSecret $text
    }

    It 'wraps a Url longer than the line in the list instead of cutting it' {
        $long = New-Typed 'D365fo.Interactive.ODataConfig' @{ name = 'Long'; url = $VeryLongUrl }
        $text = $long | Out-String -Width 80
        ($text -replace '\r?\n\s+', '') | Should -Match ('Url\s+: ' + [regex]::Escape($VeryLongUrl))
    }

    It 'wraps the Url in Format-Table at 80 columns instead of cutting it, and masks the secret' {
        $text = $Config | Format-Table | Out-String -Width 80
        Get-TableColumn $text 'Url' | Should -Be $LongUrl
        Get-TableColumn $text 'Name' | Should -Be 'UAT'
        Get-TableColumn $text 'ClientSecret' | Should -Be '********'
        Assert-NoSecret $text
    }

    It 'shows the secret in both views for objects returned with -ShowSecret' {
        ($ConfigShown | Out-String -Width 80) | Should -Match ('ClientSecret\s+: ' + [regex]::Escape($Secret))
        Get-TableColumn ($ConfigShown | Format-Table | Out-String -Width 200) 'ClientSecret' | Should -Be $Secret
    }

    It 'shows no mask when there is no secret' {
        $noSecret = New-Typed 'D365fo.Interactive.ODataConfig' @{ name = 'Interactive'; tenant = 't'; url = 'https://u'; systemurl = ''; clientid = ''; clientsecret = '' }
        ($noSecret | Format-List | Out-String) | Should -Match 'ClientSecret\s+:\s*(\r?\n|$)'
    }
}
