# Provisions the Rust crates this workspace needs from Debian's archive, for machines that cannot reach
# crates.io. Debian ships each crate's full source in a librust-*-dev package under
# usr/share/cargo/registry/<crate>-<version>/ with a .cargo-checksum.json, which makes that folder a valid
# cargo "directory source". We resolve the Depends closure over librust-* packages, download each .deb and
# unpack it without installing it (installing trixie packages on bookworm would drag in a newer libc).
#
# The archive's address is read from the machine's apt sources at run time; none is written here.

Set-StrictMode -Version Latest

# Crates the workspace (and its tests) use; Debian names them librust-<name>-dev with '_' turned into '-'.
$script:DebianRootCrates = @(
    'serde', 'serde-derive', 'serde-json', 'ureq', 'arboard', 'webbrowser', 'tiny-http',
    'libc', 'proptest', 'base64', 'rcgen'
)

function Get-AptArchiveUri {
    $files = @()
    if (Test-Path /etc/apt/sources.list.d) { $files += Get-ChildItem /etc/apt/sources.list.d -File | ForEach-Object FullName }
    if (Test-Path /etc/apt/sources.list) { $files += '/etc/apt/sources.list' }
    foreach ($f in $files) {
        foreach ($line in Get-Content $f) {
            if ($line -match '^\s*URIs:\s*(\S+)' -and $Matches[1] -notmatch 'security') { return $Matches[1].TrimEnd('/') }
            if ($line -match '^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s' -and $Matches[2] -notmatch 'security') { return $Matches[2].TrimEnd('/') }
        }
    }
    throw "No Debian archive found in the apt sources (/etc/apt/sources.list.d, /etc/apt/sources.list); cannot provision crates without crates.io."
}

function Read-DebianPackageIndex([string] $path) {
    # Only librust-* stanzas matter; parse them into Package -> @{ Depends; Filename } and Provides -> Package.
    $text = [IO.File]::ReadAllText($path)
    $packages = @{}
    $provides = @{}
    foreach ($stanza in $text -split "`n`n") {
        if (-not $stanza.StartsWith('Package: librust-')) { continue }
        $fields = @{}
        foreach ($line in $stanza -split "`n") {
            $i = $line.IndexOf(': ')
            if ($i -gt 0 -and -not $line.StartsWith(' ')) { $fields[$line.Substring(0, $i)] = $line.Substring($i + 2) }
        }
        $name = $fields['Package']
        $packages[$name] = @{ Depends = $fields['Depends']; Filename = $fields['Filename'] }
        if ($fields.ContainsKey('Provides')) {
            foreach ($p in $fields['Provides'] -split ',\s*') {
                $virtual = ($p -split '\s')[0]
                if (-not $provides.ContainsKey($virtual)) { $provides[$virtual] = $name }
            }
        }
    }
    @{ Packages = $packages; Provides = $provides }
}

function Resolve-DebianCrateClosure($index, [string[]] $roots) {
    $resolve = {
        param($n)
        if ($index.Packages.ContainsKey($n)) { return $n }
        if ($index.Provides.ContainsKey($n)) { return $index.Provides[$n] }
        return $null
    }
    $seen = [Collections.Generic.HashSet[string]]::new()
    $queue = [Collections.Generic.Queue[string]]::new()
    foreach ($r in $roots) {
        $pkg = & $resolve "librust-$r-dev"
        if (-not $pkg) { throw "Debian's archive has no package for crate '$r' (librust-$r-dev)." }
        if ($seen.Add($pkg)) { $queue.Enqueue($pkg) }
    }
    while ($queue.Count -gt 0) {
        $pkg = $queue.Dequeue()
        $deps = $index.Packages[$pkg].Depends
        if (-not $deps) { continue }
        foreach ($clause in $deps -split ',\s*') {
            # Alternatives "a | b": take the first that exists; only librust-* packages are sources.
            foreach ($alt in $clause -split '\s*\|\s*') {
                $n = ($alt.Trim() -split '[\s(]')[0]
                if (-not $n.StartsWith('librust-')) { break }
                $real = & $resolve $n
                if ($real) { if ($seen.Add($real)) { $queue.Enqueue($real) }; break }
            }
        }
    }
    @($seen)
}

function Install-DebianCrates {
    <#
    .SYNOPSIS
    Makes sure a cargo directory source with the workspace's crates exists under $CacheRoot and returns
    the path of a cargo config file that points cargo at it.
    #>
    param([Parameter(Mandatory)] [string] $CacheRoot)

    $registry = Join-Path $CacheRoot 'root/usr/share/cargo/registry'
    $stamp = Join-Path $CacheRoot 'stamp'
    $configFile = Join-Path $CacheRoot 'cargo-debian.toml'
    # The cache is shared by every clone on the machine and only ever grows (unpacking adds crates), so it
    # serves any checkout whose crates it already holds; a checkout that needs more adds them to the list.
    $roots = @($script:DebianRootCrates)
    if (Test-Path $stamp) {
        $stamped = (Get-Content -Raw $stamp).Trim()
        if ($stamped -match '^([^;]*);trixie;v1$') {
            $have = @($Matches[1] -split ',' | Where-Object { $_ })
            if (-not @($roots | Where-Object { $_ -notin $have }) -and (Test-Path $configFile)) {
                Write-Host "Rust crates: using Debian's crates cached at $registry"
                return $configFile
            }
            $roots = @($have + $roots | Select-Object -Unique)
        }
    }
    $stampText = ($roots -join ',') + ';trixie;v1'

    $archive = Get-AptArchiveUri
    Write-Host "Rust crates: crates.io is not used; provisioning crates from Debian's archive ($archive, suite trixie) into $CacheRoot"
    New-Item -ItemType Directory -Force (Join-Path $CacheRoot 'debs') | Out-Null
    # Under a name of this process's own: another clone may be provisioning the same cache at this moment.
    $indexXz = Join-Path $CacheRoot "Packages.$PID.xz"
    $index = Join-Path $CacheRoot "Packages.$PID"
    & curl -fsSL --retry 3 -o $indexXz "$archive/dists/trixie/main/binary-amd64/Packages.xz"
    if ($LASTEXITCODE) { throw "Could not download Debian's trixie package index from $archive." }
    & xz -dkf $indexXz
    if ($LASTEXITCODE) { throw "Could not decompress $indexXz (is xz installed?)." }

    $parsed = Read-DebianPackageIndex $index
    Remove-Item -LiteralPath $indexXz, $index -ErrorAction Ignore
    $closure = Resolve-DebianCrateClosure $parsed $roots
    Write-Host "Rust crates: $($closure.Count) Debian packages in the dependency closure"

    # Fetch in parallel with one curl per batch (curl --parallel); skip what is already downloaded.
    $curlArgs = [Collections.Generic.List[string]]::new()
    $debs = foreach ($pkg in $closure) {
        $fn = $parsed.Packages[$pkg].Filename
        $local = Join-Path $CacheRoot ('debs/' + [IO.Path]::GetFileName($fn))
        if (-not (Test-Path $local)) { $curlArgs.Add('-o'); $curlArgs.Add($local); $curlArgs.Add("$archive/$fn") }
        $local
    }
    if ($curlArgs.Count) {
        & curl -fsSL --no-progress-meter --retry 3 --parallel --parallel-max 16 @curlArgs
        if ($LASTEXITCODE) { throw "Downloading crates from Debian's archive failed (curl exit $LASTEXITCODE)." }
    }
    $root = Join-Path $CacheRoot 'root'
    foreach ($deb in $debs) {
        & dpkg-deb -x $deb $root
        if ($LASTEXITCODE) { throw "Could not unpack $deb." }
    }
    @"
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "$($registry -replace '\\','/')"

[net]
offline = true
"@ | Set-Content -LiteralPath $configFile -NoNewline
    Set-Content -LiteralPath $stamp -Value $stampText -NoNewline
    $configFile
}
