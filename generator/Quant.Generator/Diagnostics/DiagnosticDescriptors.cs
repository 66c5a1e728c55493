using Microsoft.CodeAnalysis;

namespace Quant.Generator.Diagnostics;

/// <summary>Every diagnostic the Quant generator reports. IDs are stable; never reuse a retired one.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "Quant.Format";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotStaticPartial = Error("QG0001",
        "A format declaration must be a static partial class",
        "The format declaration '{0}' must be a 'static partial class'{1}, so that the generator can add its kernels to it");

    public static readonly DiagnosticDescriptor InvalidName = Error("QG0002",
        "Invalid format name",
        "Format name '{0}' is not valid: use 1 to 32 letters, digits and '_', starting with a lower-case letter");

    public static readonly DiagnosticDescriptor MissingBlock = Error("QG0003",
        "Missing block size",
        "Format '{0}' needs a [Block(n)] attribute that says how many consecutive elements of a row share a scale");

    public static readonly DiagnosticDescriptor InvalidBlock = Error("QG0004",
        "Invalid block shape",
        "The block shape of format '{0}' does not work: {1}");

    public static readonly DiagnosticDescriptor BitsOutOfRange = Error("QG0005",
        "Bits out of range",
        "[{0}] of format '{1}' has {2} bits; a field holds 1 to 8 bits per element, and a whole code at most 8");

    public static readonly DiagnosticDescriptor CodebookLength = Error("QG0006",
        "Codebook length is not 2^bits",
        "The codebook of format '{0}' has {1} entries, but {2}-bit codes need exactly {3}");

    public static readonly DiagnosticDescriptor MissingScale = Error("QG0007",
        "Missing scale",
        "Format '{0}' has {1} element codes but no [Scale]; only minifloat codes carry their own magnitude and may stand without one");

    public static readonly DiagnosticDescriptor MissingCodes = Error("QG0008",
        "Missing codes",
        "Format '{0}' has no [Codes] attribute, so it would store no elements");

    public static readonly DiagnosticDescriptor DuplicateName = Error("QG0009",
        "Two formats with one name",
        "Formats '{1}' and '{2}' are both named '{0}'; format names must be unique");

    public static readonly DiagnosticDescriptor DuplicateUqff = Error("QG0010",
        "Two formats with one UQFF layer type",
        "Formats '{0}' and '{1}' are both written as UQFF layer type {2}, which names a single format");

    public static readonly DiagnosticDescriptor DuplicateGguf = Error("QG0011",
        "Two formats with one GGUF type id",
        "Formats '{0}' and '{1}' both claim GGUF type id {2}");

    public static readonly DiagnosticDescriptor ConflictingElementCodes = Error("QG0012",
        "More than one element code",
        "Format '{0}' declares {1}; an element code is one of [Integer], [Codebook] or [Minifloat]");

    public static readonly DiagnosticDescriptor InvalidRules = Error("QG0013",
        "Invalid quantization rules",
        "The quantization rules of format '{0}' do not work: {1}");

    public static readonly DiagnosticDescriptor RuleDoesNotFit = Error("QG0014",
        "Rule does not fit the format",
        "Rule '{0}' ({1}) cannot quantize format '{2}': {3}");

    public static readonly DiagnosticDescriptor InvalidPacking = Error("QG0015",
        "Invalid packing",
        "[{0}] of format '{1}' cannot be packed: {2}");

    public static readonly DiagnosticDescriptor MissingGgufType = Error("QG0016",
        "Gguf layer without a GGUF type",
        "Format '{0}' is written as a UQFF Gguf layer but declares no GgufType; set GgufType to its ggml type id");

    public static readonly DiagnosticDescriptor MinifloatWidth = Error("QG0017",
        "Minifloat width does not match the codes",
        "A minifloat of 1 sign, {0} exponent and {1} mantissa bits takes {2} bits, but the codes of format '{3}' have {4}");

    public static readonly DiagnosticDescriptor InvalidOffset = Error("QG0018",
        "Invalid integer offset",
        "[Integer] of format '{0}' is not valid: {1}");

    public static readonly DiagnosticDescriptor EscapeHatchNotFound = Error("QG0019",
        "Escape-hatch method not found",
        "Format '{0}' names '{1}' as its {2} method, but the class has no static method '{1}' of the form {3}");

    public static readonly DiagnosticDescriptor NotSupported = Error("QG0020",
        "Not supported yet",
        "Format '{0}': {1} is not supported by this version of the Quant generator");

    public static readonly DiagnosticDescriptor InvalidPlanes = Error("QG0021",
        "Invalid planes",
        "The planes of format '{0}' do not work: {1}");

    public static readonly DiagnosticDescriptor InvalidIdentity = Error("QG0022",
        "Invalid identity",
        "The identity of format '{0}' does not work: {1}");

    public static readonly DiagnosticDescriptor NoDeviceKernels = new("QG0023",
        "No GPU kernels for the format",
        "Format '{0}' gets no GPU kernels: {1}",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InternalError = Error("QG9999",
        "Internal generator error",
        "The Quant generator failed on format '{0}' ({1}); nothing was generated for it. Please report this with the declaration.");
}
