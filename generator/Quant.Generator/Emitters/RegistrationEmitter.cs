using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

/// <summary>Emits the module initializer that registers a format, so the runtime finds it by name, UQFF type and GGUF id.</summary>
internal static class RegistrationEmitter
{
    public static string Emit(FormatModel m) => Write(m, "registration", w =>
    {
        w.WriteLine($"/// <summary>Registers format <c>{m.Name}</c> when its assembly is loaded.</summary>");
        w.WriteLine(GeneratedCode);
        w.WriteLine("[global::System.Runtime.CompilerServices.ModuleInitializer]");
        w.WriteLine("internal static void RegisterQuantFormat() => global::Quant.QuantFormatRegistry.Register<Format>();");
    },
    // A library registering its own formats on load is the intended use of a module initializer here.
    preamble: "#pragma warning disable CA2255");
}
