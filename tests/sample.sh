#!/usr/bin/env bash
# Packs the repository and checks the packages the way a consumer meets them:
#   1. dotnet pack: Quant.Abstractions (with the generator in analyzers/dotnet/cs), Quant.Kernels, Quant.Runtime and
#      the quant tool, each with symbols, into artifacts/packages; their contents are checked.
#   2. samples/CustomFormat restores those packages alone from that folder (a fresh NuGet cache, so no stale copy can
#      stand in), builds, and runs: it declares its own format and checks kernels, UQFF and a layer (exit code 0).
#   3. The generator ran inside that build: the sources it wrote there equal samples/CustomFormat/snapshots, which
#      Quant.Generator.Tests keeps equal to what the generator emits for the sample's declaration.
#   4. dotnet tool install of the quant package from that folder gives a quant command that runs.
# Usage: bash tests/sample.sh [--no-build]   (--no-build: the solution was just built in Release, as tests/run.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=Release
feed=artifacts/packages
scratch=artifacts/sample
sample=samples/CustomFormat
pack_args=()
[ "${1:-}" = "--no-build" ] && pack_args+=(--no-build)

fail() { echo "sample.sh: $*" >&2; exit 1; }

echo "== pack"
rm -rf "$feed" "$scratch"
dotnet pack Quant.sln -c "$configuration" -nologo -v quiet "${pack_args[@]}"
version=$(dotnet msbuild runtime/Quant.Abstractions/Quant.Abstractions.csproj -getProperty:PackageVersion)
sample_version=$(dotnet msbuild "$sample/CustomFormat.csproj" -getProperty:QuantVersion)
[ "$version" = "$sample_version" ] \
  || fail "the packages are version $version but $sample/CustomFormat.csproj defaults QuantVersion to $sample_version; update it"

for id in Quant.Abstractions Quant.Kernels Quant.Runtime quant; do
  for ext in nupkg snupkg; do
    [ -f "$feed/$id.$version.$ext" ] || fail "$feed/$id.$version.$ext was not packed"
  done
  files=$(unzip -Z1 "$feed/$id.$version.nupkg")
  nuspec=$(unzip -p "$feed/$id.$version.nupkg" "$id.nuspec")
  grep -qx 'README.md' <<<"$files" || fail "$id has no README.md"
  grep -q '<license type="expression">MIT</license>' <<<"$nuspec" || fail "$id has no MIT license expression"
  grep -q '<repository type="git"[^>]* commit="[0-9a-f]\{40\}"' <<<"$nuspec" || fail "$id does not record its git commit"
  if grep -q 'Quant.Generator' <<<"$nuspec"; then fail "$id's nuspec names Quant.Generator (a dependency on an unpublished package)"; fi
  if [ "$id" != quant ]; then
    grep -qx "lib/net10.0/$id.dll" <<<"$files" || fail "$id has no lib/net10.0/$id.dll"
    grep -qx "lib/net10.0/$id.xml" <<<"$files" || fail "$id has no XML docs"
  fi
done
abstractions=$(unzip -Z1 "$feed/Quant.Abstractions.$version.nupkg")
grep -qx 'analyzers/dotnet/cs/Quant.Generator.dll' <<<"$abstractions" || fail "Quant.Abstractions does not carry the generator in analyzers/dotnet/cs"
[ "$(grep -c 'Quant.Generator' <<<"$abstractions")" = 1 ] || fail "Quant.Generator.dll is in Quant.Abstractions somewhere else than analyzers/dotnet/cs"
unzip -p "$feed/quant.$version.nupkg" quant.nuspec | grep -q '<packageType name="DotnetTool" />' || fail "the quant package is not a .NET tool"
echo "packed version $version: $(cd "$feed" && ls | tr '\n' ' ')"

echo "== the sample, from the packages alone"
# A fresh package cache: the sample can only get Quant.* from $feed as just packed (its nuget.config maps Quant.* there).
export NUGET_PACKAGES="$PWD/$scratch/nuget-packages"
rm -rf "$sample/bin" "$sample/obj"
dotnet build "$sample/CustomFormat.csproj" -c "$configuration" -nologo -v quiet -p:QuantVersion="$version"
assets="$sample/obj/project.assets.json"
grep -q '"Quant.Abstractions/'"$version"'"' "$assets" || fail "the sample did not restore Quant.Abstractions $version"
grep -q 'analyzers/dotnet/cs/Quant.Generator.dll' "$assets" || fail "the sample's restore did not pick up the generator from Quant.Abstractions"
if grep -q '"type": "project"' "$assets"; then fail "the sample restored a project reference"; fi
dotnet "$sample/bin/$configuration/net10.0/CustomFormat.dll" || fail "the sample failed (exit code $?)"

echo "== the generator ran in the sample's build"
generated="$sample/obj/generated/Quant.Generator/Quant.Generator.QuantFormatGenerator"
[ -d "$generated" ] || fail "the sample's build wrote no generated sources ($generated is missing)"
expected=$(cd "$sample/snapshots" && ls *.g.cs | sort)
actual=$(cd "$generated" && ls *.g.cs | sed 's/^CustomFormat\.//' | sort)
[ "$expected" = "$actual" ] || fail "generated files differ from $sample/snapshots: got [$(echo $actual)], expected [$(echo $expected)]"
for name in $expected; do
  # The compiler writes generated files with a UTF-8 BOM; the snapshots have none and \n line ends.
  if ! diff <(sed '1s/^\xEF\xBB\xBF//' "$generated/CustomFormat.$name" | tr -d '\r') "$sample/snapshots/$name" >/dev/null; then
    diff <(sed '1s/^\xEF\xBB\xBF//' "$generated/CustomFormat.$name" | tr -d '\r') "$sample/snapshots/$name" | head -20 >&2 || true
    fail "$name: the generator in the package wrote something else than $sample/snapshots/$name"
  fi
done
echo "$(wc -w <<<"$expected") generated files equal $sample/snapshots"

echo "== a consumer that references Quant.Abstractions alone gets the generator"
# Outside the repository (no Directory.Build.props, global.json or nuget.config of ours applies), one
# PackageReference, the sample's declaration: the generator must run and write the same sources.
alone=$(mktemp -d)
trap 'rm -rf "$alone"' EXIT
cat > "$alone/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources><add key="quant-local" value="$PWD/$feed" /></packageSources>
  <packageSourceMapping>
    <packageSource key="quant-local"><package pattern="Quant.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
cat > "$alone/Alone.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
    <EmitCompilerGeneratedFiles>true</EmitCompilerGeneratedFiles>
    <CompilerGeneratedFilesOutputPath>generated</CompilerGeneratedFilesOutputPath>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Quant.Abstractions" Version="[$version]" />
    <Compile Remove="generated/**" />
  </ItemGroup>
</Project>
XML
cp "$sample/Q3Affine.cs" "$alone/"
cat > "$alone/Program.cs" <<'CS'
using Quant;
bool found = QuantFormatRegistry.TryGet("q3_affine", out var entry) && entry.FormatType == typeof(CustomFormat.Q3Affine.Format);
System.Console.WriteLine($"Quant.Abstractions alone: q3_affine registered {found}, {CustomFormat.Q3Affine.Info.BitsPerWeight} bits per weight");
return found ? 0 : 1;
CS
dotnet build "$alone/Alone.csproj" -c "$configuration" -nologo -v quiet >/dev/null || fail "a project referencing only Quant.Abstractions does not build"
dotnet "$alone/bin/$configuration/net10.0/Alone.dll" || fail "the Quant.Abstractions-only consumer failed"
for name in $expected; do
  diff <(sed '1s/^\xEF\xBB\xBF//' "$alone/generated/Quant.Generator/Quant.Generator.QuantFormatGenerator/CustomFormat.$name" | tr -d '\r') "$sample/snapshots/$name" >/dev/null \
    || fail "$name: the Quant.Abstractions-only consumer's generated source differs from $sample/snapshots/$name"
done

echo "== dotnet tool install quant"
tools="$scratch/tools"
dotnet tool install quant --version "$version" --tool-path "$tools" --add-source "$feed" >/dev/null
"$tools/quant" --version
formats=$("$tools/quant" formats)
grep -q 'q4_0' <<<"$formats" || fail "'quant formats' from the installed tool does not list q4_0"
echo "quant formats: $(grep -c . <<<"$formats") lines"
echo "== sample.sh: packages, sample, generator and tool checks passed"
