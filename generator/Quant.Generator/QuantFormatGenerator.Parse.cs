using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Quant.Generator.Diagnostics;
using Quant.Generator.Helpers;
using Quant.Generator.Model;
using D = Quant.Generator.Diagnostics.DiagnosticDescriptors;

namespace Quant.Generator;

partial class QuantFormatGenerator
{
    /// <summary>Turns one <c>[QuantFormat]</c> declaration into a checked <see cref="FormatModel"/> and its diagnostics.</summary>
    internal static class Parser
    {
        private static readonly Regex s_name = new("^[a-z][a-z0-9_]{0,31}$", RegexOptions.CultureInvariant);
        private static readonly Regex s_formatName = new("^[a-z][A-Za-z0-9_]{0,31}$", RegexOptions.CultureInvariant);
        private static readonly Regex s_planeName = new("^[A-Za-z_][A-Za-z0-9_.]{0,63}$", RegexOptions.CultureInvariant);

        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var symbol = (INamedTypeSymbol)context.TargetSymbol;
            var node = (TypeDeclarationSyntax)context.TargetNode;
            var diagnostics = new List<DiagnosticInfo>();
            try
            {
                var model = new Reader(symbol, node, diagnostics, cancellationToken).Read();
                if (diagnostics.Count > 0 || model is null) return new ParseResult(null, null, diagnostics.ToEquatableArray());
                // The identity carries the declaration's location for the duplicate checks; the model does not, so that moving a declaration regenerates nothing.
                var where = DiagnosticInfo.Create(D.DuplicateName, node.Identifier.GetLocation());
                return new ParseResult(model, new FormatIdentity(model.Name, model.TypeName, model.Uqff, model.GgufType, model.Code.Bits, model.BlockSize, where), diagnostics.ToEquatableArray());
            }
            catch (OperationCanceledException)
            {
                throw;
            }
            catch (Exception e)
            {
                // A generator exception would fail the user's build with a stack trace; a diagnostic says what happened.
                // The first frame says where, which makes the report actionable.
                string where = e.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "";
                diagnostics.Add(DiagnosticInfo.Create(D.InternalError, node.Identifier.GetLocation(), symbol.Name, e.GetType().Name + ": " + e.Message + " " + where));
                return new ParseResult(null, null, diagnostics.ToEquatableArray());
            }
        }

        internal sealed class Reader(INamedTypeSymbol symbol, TypeDeclarationSyntax node, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
        {
            private string _name = symbol.Name;

            private void Report(DiagnosticDescriptor descriptor, AttributeData? attribute, params object?[] args)
            {
                var location = attribute?.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation() ?? node.Identifier.GetLocation();
                diagnostics.Add(DiagnosticInfo.Create(descriptor, location, args));
            }

            public FormatModel? Read()
            {
                var attributes = symbol.GetAttributes()
                    .Where(a => a.AttributeClass?.ContainingNamespace?.ToDisplayString() == "Quant")
                    .OrderBy(a => a.ApplicationSyntaxReference?.SyntaxTree.FilePath, StringComparer.Ordinal)
                    .ThenBy(a => a.ApplicationSyntaxReference?.Span.Start ?? 0)
                    .ToList();
                // An attribute that does not compile (missing or mistyped arguments) is the compiler's to report.
                if (attributes.Any(a => a.AttributeConstructor is null || a.AttributeClass is IErrorTypeSymbol)) return null;
                var type = ReadTypeLocation();
                var format = attributes.First(a => a.AttributeClass!.Name == "QuantFormatAttribute");
                _name = format.ConstructorArguments.Length > 0 ? format.ConstructorArguments[0].Value as string ?? "" : "";
                if (!s_formatName.IsMatch(_name)) Report(D.InvalidName, format, _name);
                cancellationToken.ThrowIfCancellationRequested();

                // Record order is attribute order, so all field attributes must sit on one declaration.
                var fieldTrees = attributes.Where(a => IsField(a.AttributeClass!.Name)).Select(a => a.ApplicationSyntaxReference?.SyntaxTree).Distinct().Count();
                if (fieldTrees > 1) Report(D.InvalidPlanes, format, _name, "write every field attribute on one declaration of the partial class, because fields are laid out in the order they are written");

                string recordPlane = Named(format, "RecordPlane", "blocks");
                if (!s_planeName.IsMatch(recordPlane)) Report(D.InvalidPlanes, format, _name, $"plane name '{recordPlane}' is not valid: use letters, digits, '_' and '.', starting with a letter or '_'");
                var uqff = (UqffLayerKind)Named(format, "Uqff", -1);
                int ggufType = Named(format, "GgufType", -1);
                string? vecDot = Named<string?>(format, "VecDotType", null);
                string? description = Named<string?>(format, "Description", null);

                var block = Single(attributes, "BlockAttribute");
                if (block is null)
                {
                    Report(D.MissingBlock, format, _name);
                    return null;
                }
                int blockSize = (int)block.ConstructorArguments[0].Value!;
                int subBlock = Named(block, "SubBlock", 0);
                int tileRows = Named(block, "Rows", 1);
                if (!CheckBlock(block, blockSize, subBlock, tileRows)) return null;

                var planes = new List<(string Name, int Bytes)>();
                var fields = new List<FieldModel>();
                var parts = new List<CodePartModel>();
                ScaleModel? scale = null;
                MinModel? min = null;
                SubScaleModel? subScales = null;
                ScaleModel? tensorScale = null, blockSum = null;
                GroupSumsModel? groupSums = null;
                int codeBits = 0;
                bool hasCodes = false;
                var subParts = new List<CodePartModel>();
                int subField = -1, subBits = 0, subOffset = 0;
                bool subWithMins = false, subSigned = false, hasSubHigh = false;
                string? subUnpack = null, subPack = null;

                int AddField(string name, FieldRole role, string? plane, int size)
                {
                    if (!s_name.IsMatch(name) || fields.Any(f => f.Name == name))
                    {
                        Report(D.InvalidPlanes, format, _name, $"field name '{name}' is not valid or is used twice: use lower-case letters, digits and '_', starting with a letter");
                        name = "invalid" + fields.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    }
                    if (plane is not null && !s_planeName.IsMatch(plane))
                    {
                        Report(D.InvalidPlanes, format, _name, $"plane name '{plane}' is not valid: use letters, digits, '_' and '.', starting with a letter or '_'");
                    }
                    string planeName = plane ?? recordPlane;
                    int index = planes.FindIndex(p => p.Name == planeName);
                    if (index < 0)
                    {
                        planes.Add((planeName, 0));
                        index = planes.Count - 1;
                    }
                    fields.Add(new FieldModel(name, role, index, planes[index].Bytes, size));
                    planes[index] = (planeName, planes[index].Bytes + size);
                    return fields.Count - 1;
                }

                foreach (var attribute in attributes)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    switch (attribute.AttributeClass!.Name)
                    {
                        case "ScaleAttribute":
                        {
                            var scaleCode = (ScaleCodeKind)(int)attribute.ConstructorArguments[0].Value!;
                            int field = AddField(Named(attribute, "Name", "d"), FieldRole.Scale, Named<string?>(attribute, "Plane", null), ScaleSize(scaleCode));
                            float divisor = Named(attribute, "Divisor", 1f);
                            if (!(divisor > 0f) || float.IsInfinity(divisor))
                            {
                                Report(D.InvalidBlock, attribute, _name, $"the scale's Divisor must be a positive finite number; it is {divisor}");
                                return null;
                            }
                            scale = new ScaleModel(field, scaleCode, divisor);
                            break;
                        }
                        case "MinAttribute":
                        {
                            var minCode = (ScaleCodeKind)(int)attribute.ConstructorArguments[0].Value!;
                            int field = AddField(Named(attribute, "Name", "m"), FieldRole.Min, Named<string?>(attribute, "Plane", null), ScaleSize(minCode));
                            min = new MinModel(field, minCode, (MinModeKind)Named(attribute, "Mode", 0));
                            break;
                        }
                        case "CodesAttribute":
                        case "HighBitsAttribute":
                        {
                            bool low = attribute.AttributeClass.Name == "CodesAttribute";
                            if (low && hasCodes) break;
                            int bits = (int)attribute.ConstructorArguments[0].Value!;
                            var packing = (PackingKind)Named(attribute, "Packing", 0);
                            int stride = Named(attribute, "Stride", 0);
                            string label = low ? "Codes" : "HighBits";
                            if (bits == 16 && low && packing == PackingKind.Sequential)
                            {
                                // 16-bit codes: whole little-endian words (f16, bf16); checked against the element code below.
                            }
                            else if (!CheckPacking(attribute, label, bits, packing, ref stride, blockSize, simdChunks: true)) return null;
                            int field = AddField(Named(attribute, "Name", low ? "qs" : "qh"), low ? FieldRole.Codes : FieldRole.HighBits,
                                Named<string?>(attribute, "Plane", null), blockSize * bits / 8);
                            if (low)
                            {
                                hasCodes = true;
                                parts.Insert(0, new CodePartModel(field, bits, packing, stride, 0));
                            }
                            else
                            {
                                parts.Add(new CodePartModel(field, bits, packing, stride, -1));
                            }
                            codeBits += bits;
                            break;
                        }
                        case "BlockSumAttribute":
                        {
                            var sumCode = (ScaleCodeKind)(int)attribute.ConstructorArguments[0].Value!;
                            blockSum = new ScaleModel(AddField(Named(attribute, "Name", "s"), FieldRole.BlockSum, null, ScaleSize(sumCode)), sumCode);
                            break;
                        }
                        case "GroupSumsAttribute":
                        {
                            int elements = (int)attribute.ConstructorArguments[0].Value!;
                            if (elements <= 0 || blockSize % elements != 0)
                            {
                                Report(D.InvalidBlock, attribute, _name, $"[GroupSums({elements})] must divide the block of {blockSize} elements");
                                return null;
                            }
                            groupSums = new GroupSumsModel(AddField(Named(attribute, "Name", "bsums"), FieldRole.GroupSums, null, blockSize / elements * 2), elements);
                            break;
                        }
                        case "TensorScaleAttribute":
                        {
                            var tensorCode = (ScaleCodeKind)(int)attribute.ConstructorArguments[0].Value!;
                            string planeName = Named(attribute, "Plane", "tensor_scale");
                            if (planes.Any(p => p.Name == planeName))
                            {
                                Report(D.InvalidPlanes, attribute, _name, $"the tensor scale needs a plane of its own, but '{planeName}' already holds other fields");
                                return null;
                            }
                            int field = AddField("tensor_scale", FieldRole.TensorScale, planeName, ScaleSize(tensorCode));
                            tensorScale = new ScaleModel(field, tensorCode);
                            break;
                        }
                        case "SubScalesAttribute":
                        case "SubScaleHighBitsAttribute":
                        {
                            bool low = attribute.AttributeClass.Name == "SubScalesAttribute";
                            string label = low ? "SubScales" : "SubScaleHighBits";
                            int bits = (int)attribute.ConstructorArguments[0].Value!;
                            if (subBlock == 0)
                            {
                                Report(D.InvalidBlock, attribute, _name, $"[{label}] needs [Block(n, SubBlock = m)] to say how many elements share a sub-scale");
                                return null;
                            }
                            if (low)
                            {
                                subWithMins = Named(attribute, "WithMins", false);
                                subOffset = Named(attribute, "Offset", 0);
                                subSigned = Named(attribute, "Signed", false);
                                subUnpack = Named<string?>(attribute, "Unpack", null);
                                subPack = Named<string?>(attribute, "Pack", null);
                            }
                            else
                            {
                                hasSubHigh = true;
                            }
                            int count = blockSize / subBlock * (low && Named(attribute, "WithMins", false) ? 2 : 1);
                            string? unpack = low ? subUnpack : null;
                            var packing = (PackingKind)Named(attribute, "Packing", 0);
                            int stride = Named(attribute, "Stride", 0);
                            int size;
                            if (unpack is not null)
                            {
                                size = Named(attribute, "Bytes", 0);
                                if (size <= 0)
                                {
                                    Report(D.InvalidPacking, attribute, "SubScales", _name, "with an Unpack method, Bytes must give the field's size");
                                    return null;
                                }
                                CheckEscapeHatch(attribute, unpack, "Unpack", "static void M(ReadOnlySpan<byte> field, Span<byte> scales, Span<byte> mins)", "ReadOnlySpan", "Span", "Span");
                                if (subPack is null) Report(D.EscapeHatchNotFound, attribute, _name, "(none)", "Pack", "static void M(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> field); an Unpack method needs its inverse");
                                else CheckEscapeHatch(attribute, subPack, "Pack", "static void M(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> field)", "ReadOnlySpan", "ReadOnlySpan", "Span");
                            }
                            else
                            {
                                if (!CheckPacking(attribute, label, bits, packing, ref stride, count, simdChunks: false)) return null;
                                size = count * bits / 8;
                            }
                            int field = AddField(Named(attribute, "Name", low ? "scales" : "scales_h"), low ? FieldRole.SubScales : FieldRole.SubScaleHighBits,
                                Named<string?>(attribute, "Plane", null), size);
                            if (low)
                            {
                                subField = field;
                                if (unpack is null) subParts.Insert(0, new CodePartModel(field, bits, packing, stride, 0));
                            }
                            else
                            {
                                subParts.Add(new CodePartModel(field, bits, packing, stride, -1));
                            }
                            subBits += bits;
                            break;
                        }
                    }
                }

                if (!hasCodes)
                {
                    Report(D.MissingCodes, format, _name);
                    return null;
                }
                // High-bit parts sit above the low bits and the earlier high-bit parts.
                int shift = 0;
                for (int i = 0; i < parts.Count; i++)
                {
                    parts[i] = parts[i] with { Shift = shift };
                    shift += parts[i].Bits;
                }
                if (codeBits > 8 && !(codeBits == 16 && parts.Count == 1))
                {
                    Report(D.BitsOutOfRange, format, "Codes + HighBits", _name, codeBits);
                    return null;
                }

                var code = ReadElementCode(attributes, format, codeBits, parts);
                if (code is null) return null;

                if (scale is null && tensorScale is null && code.Kind != ElementKind.Minifloat)
                {
                    Report(D.MissingScale, format, _name, code.Kind == ElementKind.Integer ? "integer" : "codebook");
                    return null;
                }
                string? unsupported =
                    code.Parts.Any(p => p.Packing == PackingKind.SequentialHighFirst && p.Bits is not (4 or 8)) ? "high-first packing of codes other than 4 or 8 bits"
                    : code.Kind == ElementKind.Codebook && code.Bits > 4 ? "codebooks of more than 16 entries"
                    : code.Bits > 8 && code.Kind != ElementKind.Minifloat ? "codes wider than 8 bits other than 16-bit minifloats"
                    : code.Kind != ElementKind.Integer && min is not null && code.IntLog2Factor > 0 ? "a [Min] together with a codebook kept as integers times a power of two"
                    : blockSize < 16 && fields.Any(f => f.Role is not (FieldRole.Codes or FieldRole.TensorScale)) ? $"a block of {blockSize} elements with a scale or other per-block field (blocks under 16 elements may hold codes only)"
                    : null;
                if (unsupported is not null)
                {
                    Report(D.NotSupported, format, _name, unsupported);
                    return null;
                }
                if (subField < 0 && hasSubHigh)
                {
                    Report(D.InvalidBlock, format, _name, "[SubScaleHighBits] needs a [SubScales] for the low bits");
                    return null;
                }
                if (subField >= 0)
                {
                    if (subUnpack is not null && hasSubHigh)
                    {
                        Report(D.InvalidPacking, format, "SubScaleHighBits", _name, "an Unpack method reads whole sub-scales; it cannot be combined with [SubScaleHighBits]");
                        return null;
                    }
                    if (subBits > 8)
                    {
                        Report(D.BitsOutOfRange, format, "SubScales + SubScaleHighBits", _name, subBits);
                        return null;
                    }
                    if (subWithMins != (min?.Mode == MinModeKind.SubtractScaled))
                    {
                        Report(D.InvalidBlock, format, _name, subWithMins
                            ? "[SubScales(WithMins = true)] needs a [Min(Mode = MinMode.SubtractScaled)] super-scale for its mins"
                            : "[Min(Mode = MinMode.SubtractScaled)] needs [SubScales(WithMins = true)] to hold the integer mins");
                        return null;
                    }
                    int subShift = 0;
                    for (int i = 0; i < subParts.Count; i++)
                    {
                        subParts[i] = subParts[i] with { Shift = subShift };
                        subShift += subParts[i].Bits;
                    }
                    subScales = new SubScaleModel(subField, subParts.ToEquatableArray(), subBits, blockSize / subBlock, subOffset, subSigned, subWithMins, subUnpack, subPack);
                }
                else if (subBlock > 0)
                {
                    Report(D.InvalidBlock, format, _name, "[Block(n, SubBlock = m)] needs [SubScales] to say how sub-blocks are scaled");
                    return null;
                }
                if (min is not null && min.Mode == MinModeKind.SubtractScaled && subScales is null)
                {
                    Report(D.InvalidBlock, format, _name, "[Min(Mode = MinMode.SubtractScaled)] needs [SubScales(WithMins = true)] to hold the integer mins");
                    return null;
                }
                if (planes.Count > 4)
                {
                    Report(D.InvalidPlanes, format, _name, $"it has {planes.Count} planes ({string.Join(", ", planes.Select(p => p.Name))}); at most 4 are allowed");
                    return null;
                }

                if (min is not null && min.Code is not (ScaleCodeKind.F32 or ScaleCodeKind.F16 or ScaleCodeKind.BF16))
                {
                    Report(D.NotSupported, format, _name, $"a [Min] stored as {min.Code} (store it as F32, F16 or BF16)");
                    return null;
                }
                if (tensorScale is not null && tensorScale.Code is not (ScaleCodeKind.F32 or ScaleCodeKind.F16 or ScaleCodeKind.BF16))
                {
                    Report(D.NotSupported, format, _name, $"a [TensorScale] stored as {tensorScale.Code} (store it as F32, F16 or BF16)");
                    return null;
                }
                if (tensorScale is not null && scale is null && code.Kind != ElementKind.Minifloat)
                {
                    Report(D.MissingScale, format, _name, "a [TensorScale] alone scales only minifloat codes; the codes are");
                    return null;
                }
                int tensorPlane = tensorScale is null ? -1 : fields[tensorScale.Field].Plane;
                // A plane that holds nothing but one scale-like value per block has that value's type.
                string Element(int plane)
                {
                    var inPlane = fields.Where(f => f.Plane == plane).ToList();
                    if (inPlane.Count != 1) return "Bytes";
                    var code = inPlane[0].Role switch
                    {
                        FieldRole.Scale => scale?.Code,
                        FieldRole.Min => min?.Code,
                        FieldRole.TensorScale => tensorScale?.Code,
                        _ => null,
                    };
                    return code?.ToString() ?? "Bytes";
                }
                int tilePlane = -1;
                if (tileRows > 1)
                {
                    // A tile's scale is shared by TileRows rows: it lives alone in a plane, and nothing else varies per block.
                    bool fits = scale is not null && min is null && subScales is null && tensorScale is null && fields[scale.Field].Plane != fields[code.Parts[0].Field].Plane
                        && fields.Count(f => f.Plane == fields[scale.Field].Plane) == 1 && code.Kind == ElementKind.Minifloat;
                    if (!fits)
                    {
                        Report(D.InvalidBlock, block, _name, "2-D tiles ([Block(n, Rows = r)]) take minifloat codes and one [Scale] in a plane of its own, with no [Min], sub-scales or tensor scale");
                        return null;
                    }
                    tilePlane = fields[scale!.Field].Plane;
                }
                var planeModels = planes.Select((p, i) => new PlaneModel(p.Name, p.Bytes, i == tensorPlane, Element(i), i == tilePlane)).ToEquatableArray();
                var fieldModels = fields.ToEquatableArray();
                if (!CheckIdentity(format, uqff, ggufType, planeModels, fieldModels, scale, code, min, tensorScale, blockSize)) return null;
                if (tensorScale is not null && scale?.Code is ScaleCodeKind.E8M0)
                {
                    Report(D.NotSupported, format, _name, "a [TensorScale] over E8M0 block scales");
                    return null;
                }

                if ((blockSum is not null || groupSums is not null) && code.Kind != ElementKind.Integer)
                {
                    Report(D.InvalidBlock, format, _name, "[BlockSum] and [GroupSums] add up integer values, so they need [Integer] codes");
                    return null;
                }
                var rules = ReadRules(attributes, format, code, scale, min, subScales, blockSize, subBlock, tileRows);
                if (rules is null || diagnostics.Count > 0) return null;

                return new FormatModel(type, _name, description, uqff, ggufType, vecDot, blockSize, subBlock, tileRows,
                    planeModels, fieldModels, code, scale, min, subScales, tensorScale, blockSum, groupSums, rules.Value);
            }

            private static bool IsField(string attributeName) => attributeName is "ScaleAttribute" or "MinAttribute" or "CodesAttribute" or "HighBitsAttribute" or "SubScalesAttribute" or "SubScaleHighBitsAttribute" or "TensorScaleAttribute" or "BlockSumAttribute" or "GroupSumsAttribute";

            /// <summary>Names the generated code declares in the format's class; the class itself cannot have one of them.</summary>
            private static readonly string[] s_reservedNames =
            [
                "Format", "Info", "Element", "BlockSize", "BytesPerBlock", "CodeBits", "QuantizeRow", "QuantizeTensorPlanes",
                "DequantizeBlocks", "DequantizeRow", "DotRow", "WriteUqffLayer", "ReadUqffLayer", "RegisterQuantFormat",
                "UnpackCodes", "PackCodes", "UnpackSubScales", "PackSubScales",
            ];

            private TypeLocation ReadTypeLocation()
            {
                bool isClass = node is ClassDeclarationSyntax;
                bool isStaticPartial = isClass && node.Modifiers.Any(SyntaxKind.StaticKeyword) && node.Modifiers.Any(SyntaxKind.PartialKeyword);
                var containing = new List<string>();
                bool containersPartial = true, accessible = symbol.DeclaredAccessibility is Accessibility.Public or Accessibility.Internal;
                for (var outer = symbol.ContainingType; outer is not null; outer = outer.ContainingType)
                {
                    var syntax = outer.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) as TypeDeclarationSyntax;
                    if (syntax is null || !syntax.Modifiers.Any(SyntaxKind.PartialKeyword)) containersPartial = false;
                    if (outer.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal)) accessible = false;
                    string keyword = syntax switch
                    {
                        RecordDeclarationSyntax r => r.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? "record struct" : "record",
                        StructDeclarationSyntax => "struct",
                        InterfaceDeclarationSyntax => "interface",
                        _ => "class",
                    };
                    string typeParameters = outer.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", outer.TypeParameters.Select(t => t.Name)) + ">";
                    containing.Insert(0, $"partial {keyword} {outer.Name}{typeParameters}");
                }
                string? why =
                    !isClass ? $" (it is declared as a {node.Keyword.ValueText})"
                    : !isStaticPartial ? ""
                    : symbol.IsFileLocal || node.Modifiers.Any(SyntaxKind.FileKeyword) ? " that is not file-local (the generated half could not see it)"
                    : symbol.IsGenericType ? " without type parameters"
                    : !containersPartial ? " inside partial types only"
                    : !accessible ? " that is public or internal, inside public or internal types (its registration runs as a module initializer)"
                    : Array.IndexOf(s_reservedNames, symbol.Name) >= 0 ? $" whose name is not one the generator gives its members ({string.Join(", ", s_reservedNames)})"
                    : null;
                if (why is not null) Report(D.NotStaticPartial, null, symbol.Name, why);
                string ns = symbol.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : "";
                return new TypeLocation(ns, symbol.Name, containing.ToEquatableArray());
            }

            private bool CheckBlock(AttributeData block, int blockSize, int subBlock, int tileRows)
            {
                string? problem =
                    blockSize <= 0 || blockSize > 4096 ? $"a block holds 1 to 4096 elements; it says {blockSize}"
                    : subBlock < 0 || (subBlock > 0 && (blockSize % subBlock != 0 || subBlock == blockSize)) ? $"the sub-block size {subBlock} must divide the block size {blockSize} into at least two sub-blocks"
                    : tileRows < 1 ? $"Rows must be at least 1; it says {tileRows}"
                    : null;
                if (problem is not null)
                {
                    Report(D.InvalidBlock, block, _name, problem);
                    return false;
                }
                if ((blockSize % 16 != 0 && 16 % blockSize != 0) || (subBlock > 0 && subBlock % 16 != 0))
                {
                    Report(D.NotSupported, block, _name, "blocks and sub-blocks whose size is neither a multiple nor a divisor of 16 elements");
                    return false;
                }
                return true;
            }

            private bool CheckPacking(AttributeData attribute, string label, int bits, PackingKind packing, ref int stride, int elements, bool simdChunks)
            {
                if (bits < 1 || bits > 8)
                {
                    Report(D.BitsOutOfRange, attribute, label, _name, bits);
                    return false;
                }
                string? problem = null;
                switch (packing)
                {
                    case PackingKind.Sequential:
                        if (elements * bits % 8 != 0) problem = $"{elements} codes of {bits} bits do not fill whole bytes; make the block a multiple of {8 / Gcd(8, bits)} elements";
                        break;
                    case PackingKind.SequentialHighFirst:
                        if (8 % bits != 0) problem = $"high-first packing needs a width that divides 8 (1, 2, 4 or 8 bits); it has {bits}";
                        else if (elements * bits % 8 != 0) problem = $"{elements} codes of {bits} bits do not fill whole bytes";
                        break;
                    case PackingKind.Sliced:
                        if (8 % bits != 0 || bits == 8)
                        {
                            problem = $"sliced packing needs 1, 2 or 4 bits, so that each byte holds a whole number of codes; it has {bits}";
                            break;
                        }
                        if (stride == 0) stride = elements * bits / 8;
                        int perRun = stride * (8 / bits);
                        if (stride <= 0 || elements % perRun != 0) problem = $"a run of {stride} bytes holds {perRun} codes, which does not divide the {elements} codes of a block";
                        else if (simdChunks && stride % 16 != 0) problem = $"the SIMD paths read 16 codes of one slice at a time, so Stride must be a multiple of 16; it is {stride}";
                        break;
                    default:
                        problem = $"unknown packing {(int)packing}";
                        break;
                }
                if (problem is not null)
                {
                    Report(D.InvalidPacking, attribute, label, _name, problem);
                    return false;
                }
                return true;
            }

            private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

            private void CheckEscapeHatch(AttributeData attribute, string method, string role, string shape, params string[] parameterTypes)
            {
                bool found = symbol.GetMembers(method).OfType<IMethodSymbol>().Any(m =>
                    m.IsStatic && m.ReturnsVoid && m.Parameters.Length == parameterTypes.Length &&
                    m.Parameters.Select((p, i) => p.Type is INamedTypeSymbol t && t.Name == parameterTypes[i] &&
                        t.TypeArguments.Length == 1 && t.TypeArguments[0].SpecialType == SpecialType.System_Byte).All(ok => ok));
                if (!found) Report(D.EscapeHatchNotFound, attribute, _name, method, role, shape);
            }

            private CodeModel? ReadElementCode(List<AttributeData> attributes, AttributeData format, int bits, List<CodePartModel> parts)
            {
                var kinds = attributes.Where(a => a.AttributeClass!.Name is "IntegerAttribute" or "CodebookAttribute" or "MinifloatAttribute").ToList();
                if (kinds.Count > 1)
                {
                    Report(D.ConflictingElementCodes, kinds[1], _name, string.Join(" and ", kinds.Select(k => "[" + k.AttributeClass!.Name.Replace("Attribute", "") + "]")));
                    return null;
                }
                var partArray = parts.ToEquatableArray();
                var kind = kinds.FirstOrDefault();
                switch (kind?.AttributeClass!.Name)
                {
                    case null:
                    case "IntegerAttribute":
                    {
                        int offset = kind is null ? 0 : Named(kind, "Offset", 0);
                        bool signed = kind is not null && Named(kind, "Signed", false);
                        if (signed && offset != 0)
                        {
                            Report(D.InvalidOffset, kind, _name, "a two's complement code takes no offset");
                            return null;
                        }
                        if (offset < 0 || offset >= 1 << bits)
                        {
                            Report(D.InvalidOffset, kind, _name, $"the offset {offset} lies outside the {bits}-bit codes 0 to {(1 << bits) - 1}");
                            return null;
                        }
                        return new CodeModel(bits, partArray, ElementKind.Integer, offset, signed, EquatableArray<float>.Empty, 0, 0, 0, 0, MinifloatSpecialsKind.None);
                    }
                    case "CodebookAttribute":
                    {
                        var values = kind.ConstructorArguments[0].Kind == TypedConstantKind.Array
                            ? kind.ConstructorArguments[0].Values.Select(v => Convert.ToSingle(v.Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
                            : Array.Empty<float>();
                        if (values.Length != 1 << bits)
                        {
                            Report(D.CodebookLength, kind, _name, values.Length, bits, 1 << bits);
                            return null;
                        }
                        return new CodeModel(bits, partArray, ElementKind.Codebook, 0, false, new EquatableArray<float>(values), bits <= 4 ? IntFactor(values) : -1, 0, 0, 0, MinifloatSpecialsKind.None);
                    }
                    default:
                    {
                        int e = (int)kind.ConstructorArguments[0].Value!;
                        int m = (int)kind.ConstructorArguments[1].Value!;
                        int bias = Named(kind, "Bias", -1);
                        var specials = (MinifloatSpecialsKind)Named(kind, "Specials", 0);
                        if (e < 1 || m < 0 || 1 + e + m != bits)
                        {
                            Report(D.MinifloatWidth, kind, e, m, 1 + e + m, _name, bits);
                            return null;
                        }
                        if (bias < 0) bias = (1 << (e - 1)) - 1;
                        var table = bits <= 8 ? MinifloatTable(e, m, bias, specials) : Array.Empty<float>();
                        return new CodeModel(bits, partArray, ElementKind.Minifloat, 0, false, new EquatableArray<float>(table), bits <= 4 ? IntFactor(table) : -1, e, m, bias, specials);
                    }
                }
            }

            /// <summary>The value of every code of a sign / exponent / mantissa minifloat, computed exactly.</summary>
            internal static float[] MinifloatTable(int e, int m, int bias, MinifloatSpecialsKind specials)
            {
                int count = 1 << (1 + e + m);
                int maxExponent = (1 << e) - 1, maxMantissa = (1 << m) - 1;
                var table = new float[count];
                for (int code = 0; code < count; code++)
                {
                    bool negative = (code >> (e + m) & 1) != 0;
                    int exponent = code >> m & maxExponent;
                    int mantissa = code & maxMantissa;
                    double value;
                    if (specials == MinifloatSpecialsKind.Ieee && exponent == maxExponent) value = mantissa == 0 ? double.PositiveInfinity : double.NaN;
                    else if (specials == MinifloatSpecialsKind.NanOnly && exponent == maxExponent && mantissa == maxMantissa) value = double.NaN;
                    else if (exponent == 0) value = mantissa / (double)(1 << m) * Math.Pow(2, 1 - bias);
                    else value = (1 + mantissa / (double)(1 << m)) * Math.Pow(2, exponent - bias);
                    if (double.IsNaN(value))
                    {
                        // Every decoder of the library produces the quiet NaN 0x7FC00000 with the code's sign.
                        table[code] = BitConverter.ToSingle(BitConverter.GetBytes(negative ? unchecked((int)0xFFC00000) : 0x7FC00000), 0);
                        continue;
                    }
                    table[code] = (float)(negative ? -value : value);
                }
                return table;
            }

            /// <summary>The least k with every entry times 2^k an integer in [-128, 127], or -1.</summary>
            private static int IntFactor(float[] values)
            {
                for (int k = 0; k <= 8; k++)
                {
                    double factor = Math.Pow(2, k);
                    if (values.All(v => !float.IsNaN(v) && !float.IsInfinity(v) && v * factor == Math.Floor(v * factor) && v * factor >= -128 && v * factor <= 127))
                    {
                        return k;
                    }
                }
                return -1;
            }

            private bool CheckIdentity(AttributeData format, UqffLayerKind uqff, int ggufType, EquatableArray<PlaneModel> planes, EquatableArray<FieldModel> fields,
                ScaleModel? scale, CodeModel code, MinModel? min, ScaleModel? tensorScale, int blockSize)
            {
                if (uqff == UqffLayerKind.Gguf && ggufType < 0)
                {
                    Report(D.MissingGgufType, format, _name);
                    return false;
                }
                if (ggufType >= 0 && planes.Count != 1)
                {
                    Report(D.InvalidIdentity, format, _name, "a GGUF type stores every field in one block record, but this format has planes " + string.Join(", ", planes.Select(p => p.Name)));
                    return false;
                }
                switch (uqff)
                {
                    case UqffLayerKind.None:
                    case UqffLayerKind.Gguf:
                        return true;
                    case UqffLayerKind.Mxfp4:
                        bool fits = planes.Count == 2 && scale is not null && fields[scale.Field].Plane == 1 && planes[1].BytesPerBlock == 1
                            && fields.Count(f => f.Plane == 0) == 1 && fields.Single(f => f.Plane == 0).Role == FieldRole.Codes;
                        if (!fits) Report(D.InvalidIdentity, format, _name, "a UQFF Mxfp4 layer holds exactly two planes: the codes, then one E8M0 scale byte per block");
                        return fits;
                    case UqffLayerKind.Fp8:
                    {
                        bool fp8 = planes.Count == 2 && scale is null && min is null && tensorScale?.Code == ScaleCodeKind.F32 && fields[tensorScale.Field].Plane == 1
                            && code is { Kind: ElementKind.Minifloat, Bits: 8, ExponentBits: 4, MantissaBits: 3, Specials: MinifloatSpecialsKind.NanOnly };
                        if (!fp8) Report(D.InvalidIdentity, format, _name, "a UQFF Fp8 layer holds E4M3 codes ([Minifloat(4, 3, Specials = NanOnly)]) and one F32 [TensorScale] in a plane of its own, nothing else");
                        return fp8;
                    }
                    case UqffLayerKind.F8Q8:
                    {
                        bool f8q8 = planes.Count == 1 && blockSize == 32 && scale?.Code == ScaleCodeKind.E4M3 && fields[scale.Field].Offset == 0 && min is null
                            && code is { Kind: ElementKind.Integer, Signed: true, Bits: 8 };
                        if (!f8q8) Report(D.InvalidIdentity, format, _name, "a UQFF F8Q8 layer holds 33-byte blocks: an E4M3 scale, then 32 signed 8-bit codes");
                        return f8q8;
                    }
                    case UqffLayerKind.Afq:
                    {
                        bool afq = planes.Count == 3 && blockSize is 32 or 64 or 128 && code is { Kind: ElementKind.Integer, Signed: false, Offset: 0, Bits: 2 or 3 or 4 or 6 or 8 }
                            && code.Parts.Count == 1 && code.Parts[0].Packing == PackingKind.Sequential && fields[code.Parts[0].Field].Plane == 0
                            && scale is not null && fields[scale.Field].Plane == 1 && min is { Mode: MinModeKind.Add } && fields[min.Field].Plane == 2;
                        if (!afq) Report(D.InvalidIdentity, format, _name, "a UQFF Afq layer holds 2, 3, 4, 6 or 8-bit codes packed LSB first, then a plane of scales, then a plane of biases ([Min] in Add mode), in groups of 32, 64 or 128");
                        return afq;
                    }
                    case UqffLayerKind.Hqq:
                    {
                        // The codec repacks the codes along the output dimension and writes the scale and zero planes as [groups, 1] records.
                        bool hqq = planes.Count == 3 && code is { Kind: ElementKind.Integer, Signed: false, Offset: 0, Bits: 1 or 2 or 3 or 4 or 8 }
                            && code.Parts.Count == 1 && code.Parts[0].Packing == PackingKind.Sequential && fields[code.Parts[0].Field].Plane == 0
                            && scale is not null && fields[scale.Field].Plane == 1 && min is { Mode: MinModeKind.ZeroPoint } && fields[min.Field].Plane == 2
                            && scale.Code == min.Code && scale.Code is ScaleCodeKind.F32 or ScaleCodeKind.F16 or ScaleCodeKind.BF16;
                        if (!hqq) Report(D.InvalidIdentity, format, _name, "a UQFF Hqq layer holds 1, 2, 3, 4 or 8-bit codes packed LSB first, then a plane of scales, then a plane of zero points ([Min(Mode = MinMode.ZeroPoint)]), both F32, F16 or BF16 of the same type");
                        return hqq;
                    }
                    default:
                        Report(D.NotSupported, format, _name, $"UQFF layer type {uqff}");
                        return false;
                }
            }

            private EquatableArray<RuleModel>? ReadRules(List<AttributeData> attributes, AttributeData format, CodeModel code, ScaleModel? scale, MinModel? min,
                SubScaleModel? sub, int blockSize, int subBlock, int tileRows)
            {
                var rules = new List<RuleModel>();
                foreach (var attribute in attributes.Where(a => a.AttributeClass!.Name == "QuantRuleAttribute"))
                {
                    string name = attribute.ConstructorArguments[0].Value as string ?? "";
                    var kind = (RuleKind)(int)attribute.ConstructorArguments[1].Value!;
                    if (!s_name.IsMatch(name))
                    {
                        Report(D.InvalidRules, attribute, _name, $"rule name '{name}' is not valid (lower-case letters, digits and '_', starting with a letter)");
                        return null;
                    }
                    if (rules.Any(r => r.Name == name || MethodName(r.Name) == MethodName(name)))
                    {
                        Report(D.InvalidRules, attribute, _name, $"two rules are named '{name}' (or names that differ only in underscores)");
                        return null;
                    }
                    string? problem = kind is RuleKind.GgmlKQuant or RuleKind.GgmlIq4 or RuleKind.ReciprocalSignedMax
                        ? GgmlFamilyProblem(kind, code, scale, min, sub, blockSize, subBlock)
                        : RuleProblem(kind, (RoundingKind)Named(attribute, "Rounding", 0), code, scale, min);
                    int steps = Named(attribute, "Steps", 20);
                    if (problem is null && kind == RuleKind.HalfQuadratic && steps < 0) problem = $"Steps must be 0 or more; it says {steps}";
                    if (problem is not null)
                    {
                        Report(D.RuleDoesNotFit, attribute, name, kind, _name, problem);
                        return null;
                    }
                    rules.Add(new RuleModel(name, kind, Named(attribute, "Default", false), Named<string?>(attribute, "Description", null),
                        (RoundingKind)Named(attribute, "Rounding", 0), (OverflowKind)Named(attribute, "Overflow", 0), Named(attribute, "RoundZeroPoint", false), steps));
                }
                if (rules.Count == 0)
                {
                    Report(D.InvalidRules, format, _name, "declare at least one [QuantRule(name, ScaleRule...)] so that the format can be quantized");
                    return null;
                }
                int defaults = rules.Count(r => r.IsDefault);
                if (rules.Count == 1 && defaults == 0) rules[0] = rules[0] with { IsDefault = true };
                else if (defaults != 1)
                {
                    Report(D.InvalidRules, format, _name, defaults == 0 ? "several rules are declared and none is marked Default = true" : "more than one rule is marked Default = true");
                    return null;
                }
                var baseRule = rules.First(r => r.IsDefault);
                if (tileRows > 1 && rules.FirstOrDefault(r => r.Kind != RuleKind.AbsMax) is { } tileRule)
                {
                    Report(D.RuleDoesNotFit, attributes.First(a => a.AttributeClass!.Name == "QuantRuleAttribute" && a.ConstructorArguments[0].Value as string == tileRule.Name),
                        tileRule.Name, tileRule.Kind, _name, "2-D tiles are quantized with AbsMax: the tile's largest magnitude maps to the largest code");
                    return null;
                }
                if (sub is not null && rules.FirstOrDefault(r => r.Kind is not (RuleKind.GgmlKQuant or RuleKind.GgmlIq4 or RuleKind.ErrorMinimizing)) is { } flatRule)
                {
                    Report(D.RuleDoesNotFit, attributes.First(a => a.AttributeClass!.Name == "QuantRuleAttribute" && a.ConstructorArguments[0].Value as string == flatRule.Name),
                        flatRule.Name, flatRule.Kind, _name, "a super-block with [SubScales] is quantized by ggml's searches (GgmlKQuant or GgmlIq4), which write the sub-scales; this rule would leave them unwritten");
                    return null;
                }
                foreach (var rule in rules.Where(r => r.Kind == RuleKind.ErrorMinimizing && scale?.Code != ScaleCodeKind.E8M0))
                {
                    string? problem =
                        baseRule.Kind == RuleKind.ErrorMinimizing ? "it starts from the default rule, so another rule must be the default"
                        : sub is not null && baseRule.Kind is not (RuleKind.GgmlKQuant or RuleKind.GgmlIq4) ? "for super-blocks it tries ggml's weighted searches, so the default rule must be GgmlKQuant or GgmlIq4"
                        : sub is null && min is { Mode: MinModeKind.SubtractScaled } ? "it refits a scale and an added min or a zero point; subtracted mins are not refitted yet"
                        : null;
                    if (problem is not null)
                    {
                        Report(D.RuleDoesNotFit, attributes.First(a => a.AttributeClass!.Name == "QuantRuleAttribute" && a.ConstructorArguments[0].Value as string == rule.Name), rule.Name, rule.Kind, _name, problem);
                        return null;
                    }
                }
                return rules.ToEquatableArray();
            }

            private static string? RuleProblem(RuleKind kind, RoundingKind rounding, CodeModel code, ScaleModel? scale, MinModel? min)
            {
                bool integer = code.Kind == ElementKind.Integer;
                bool table = !integer;
                bool floatScale = scale?.Code is ScaleCodeKind.F32 or ScaleCodeKind.F16 or ScaleCodeKind.BF16;
                if (kind is RuleKind.SignedMax or RuleKind.MinMax && integer && scale is not null && !floatScale
                    || kind is RuleKind.AbsMax && integer && scale is not null && !floatScale && scale.Code != ScaleCodeKind.E4M3)
                {
                    return $"it computes the scale as a float, so the [Scale] must be stored as F32, F16 or BF16, not {scale.Code}";
                }
                if (kind == RuleKind.AbsMax && table && scale is not null && !floatScale && scale.Code != ScaleCodeKind.E4M3)
                {
                    return $"it needs a block scale stored as F32, F16, BF16 or E4M3, not {scale.Code}";
                }
                switch (kind)
                {
                    case RuleKind.AbsMax:
                        if (scale is null || min is not null) return "it needs a [Scale] and no [Min]";
                        if (integer) return code.Signed ? null : "integer codes must be two's complement ([Integer(Signed = true)])";
                        if (code.Kind == ElementKind.Codebook && code.Table.Any(v => float.IsNaN(v) || float.IsInfinity(v))) return "it needs a codebook of finite values";
                        return code.Kind == ElementKind.Codebook || rounding == RoundingKind.NearestEven ? null
                            : "a minifloat code rounds to nearest even under this rule";
                    case RuleKind.SignedMax:
                        return integer && !code.Signed && code.Offset == 1 << (code.Bits - 1) && scale is not null && min is null ? null
                            : $"it needs [Integer(Offset = {1 << (code.Bits - 1)})] codes (half the code range), a [Scale] and no [Min]";
                    case RuleKind.MinMax:
                        return integer && !code.Signed && code.Offset == 0 && scale is not null && min is { Mode: MinModeKind.Add } ? null
                            : "it needs unsigned [Integer] codes without offset, a [Scale] and a [Min] in Add mode";
                    case RuleKind.ErrorMinimizing when scale?.Code != ScaleCodeKind.E8M0:
                        // Checked against the default rule once every rule is read.
                        return scale is null ? "it refits a block scale, and this format has none" : null;
                    case RuleKind.SharedExponent:
                    case RuleKind.ErrorMinimizing:
                        if (!(table && scale?.Code == ScaleCodeKind.E8M0 && min is null)) return "it needs a [Codebook] or [Minifloat] code with an E8M0 [Scale] and no [Min]";
                        return rounding == RoundingKind.NearestLowestCode
                            ? code.Table.Count > 0 && code.Table.All(v => !float.IsNaN(v) && !float.IsInfinity(v)) ? null : "rounding to the lowest code on a tie searches a finite table of at most 256 codes"
                            : code.Kind == ElementKind.Minifloat ? null : "rounding to nearest even needs [Minifloat] codes; a codebook rounds with Rounding = CodeRounding.NearestLowestCode";
                    case RuleKind.RoundToNearest:
                        return code.Kind == ElementKind.Minifloat && scale is null && min is null ? null
                            : "it rounds each element (divided by the tensor scale, if any) to the nearest code on its own, so it needs [Minifloat] codes and no [Scale] or [Min]";
                    case RuleKind.ZeroPointMinMax:
                    case RuleKind.HalfQuadratic:
                        return integer && !code.Signed && code.Offset == 0 && floatScale && min is { Mode: MinModeKind.ZeroPoint, Code: ScaleCodeKind.F32 or ScaleCodeKind.F16 or ScaleCodeKind.BF16 } ? null
                            : "it needs unsigned [Integer] codes without offset, a [Scale] and a [Min(Mode = MinMode.ZeroPoint)], stored as F32, F16 or BF16";
                    case RuleKind.Affine:
                        return integer && !code.Signed && code.Offset == 0 && scale is not null && min is { Mode: MinModeKind.Add } && floatScale && min.Code is not ScaleCodeKind.E4M3 ? null
                            : "it needs unsigned [Integer] codes without offset, a [Scale] and a [Min] in Add mode, stored as F32, F16 or BF16";
                    case RuleKind.SharedExponentMistralRs:
                        return code.Kind == ElementKind.Minifloat && code.Specials == MinifloatSpecialsKind.None && scale?.Code == ScaleCodeKind.E8M0 && min is null ? null
                            : "it needs a [Minifloat] code without special values and an E8M0 [Scale]";
                    default:
                        return $"unknown rule {(int)kind}";
                }
            }

            private static string MethodName(string rule) => rule.Replace("_", "");

            private static readonly float[] s_iq4Codebook = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

            /// <summary>Which ggml search a declaration's shape selects, or null when none fits.</summary>
            internal static string? GgmlVariant(RuleKind kind, CodeModel code, ScaleModel? scale, MinModel? min, SubScaleModel? sub, int blockSize, int subBlock)
            {
                bool f16 = scale?.Code == ScaleCodeKind.F16;
                bool withMins = sub?.WithMins == true && min is { Mode: MinModeKind.SubtractScaled, Code: ScaleCodeKind.F16 };
                bool integer = code.Kind == ElementKind.Integer && !code.Signed;
                switch (kind)
                {
                    case RuleKind.GgmlKQuant when blockSize == 256 && f16 && integer && sub is not null:
                        return (code.Bits, code.Offset, subBlock, sub.Bits, sub.Offset, sub.Signed, withMins) switch
                        {
                            (2, 0, 16, 4, 0, false, true) => "Q2K",
                            (3, 4, 16, 6, 32, false, false) when min is null => "Q3K",
                            (4, 0, 32, 6, 0, false, true) => "Q4K",
                            (5, 0, 32, 6, 0, false, true) => "Q5K",
                            (6, 32, 16, 8, 0, true, false) when min is null => "Q6K",
                            _ => null,
                        };
                    case RuleKind.GgmlIq4 when f16 && min is null && code.Kind == ElementKind.Codebook && code.Table.SequenceEqual(s_iq4Codebook):
                        if (blockSize == 32 && sub is null) return "Iq4Nl";
                        return blockSize == 256 && subBlock == 32 && sub is { Bits: 6, Offset: 32, Signed: false, WithMins: false } ? "Iq4Xs" : null;
                    case RuleKind.ReciprocalSignedMax when blockSize == 256 && scale?.Code == ScaleCodeKind.F32 && min is null && sub is null
                        && code.Kind == ElementKind.Integer && code.Signed && code.Bits == 8:
                        return "Q8K";
                    default:
                        return null;
                }
            }

            private static string? GgmlFamilyProblem(RuleKind kind, CodeModel code, ScaleModel? scale, MinModel? min, SubScaleModel? sub, int blockSize, int subBlock)
            {
                if (GgmlVariant(kind, code, scale, min, sub, blockSize, subBlock) is not null) return null;
                return kind switch
                {
                    RuleKind.GgmlKQuant => "its searches exist for ggml's five K-quant shapes only (256-element super-blocks with F16 scales: "
                        + "2-bit codes in 16-element sub-blocks with 4-bit scales and mins, 3-bit codes minus 4 with 6-bit scales minus 32, "
                        + "4- and 5-bit codes in 32-element sub-blocks with 6-bit scales and mins, 6-bit codes minus 32 with int8 scales)",
                    RuleKind.GgmlIq4 => "it needs ggml's iq4_nl codebook with an F16 scale, in 32-element blocks (iq4_nl) or 256-element super-blocks of 32 with 6-bit sub-scales minus 32 (iq4_xs)",
                    _ => "it needs signed 8-bit codes in 256-element blocks with an F32 scale (ggml q8_K)",
                };
            }

            private static int ScaleSize(ScaleCodeKind code) => code switch
            {
                ScaleCodeKind.F32 => 4,
                ScaleCodeKind.F16 or ScaleCodeKind.BF16 => 2,
                _ => 1,
            };

            private static AttributeData? Single(List<AttributeData> attributes, string name) => attributes.FirstOrDefault(a => a.AttributeClass!.Name == name);

            private static T Named<T>(AttributeData attribute, string name, T fallback)
            {
                foreach (var pair in attribute.NamedArguments)
                {
                    if (pair.Key == name && pair.Value.Value is T value) return value;
                }
                return fallback;
            }
        }
    }
}
