using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace Quant.Generator.Tests.Harness;

/// <summary>
/// Walks an object graph by reflection and lists every path that reaches a Roslyn object that must not
/// sit in an incremental model (symbols, syntax, compilations, semantic models, locations): such an
/// object keeps a whole compilation alive and never compares equal across runs, so caching breaks.
/// </summary>
internal static class RoslynObjectFinder
{
    private static readonly Type[] s_forbidden =
    [
        typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxToken), typeof(SyntaxTrivia), typeof(SyntaxTree),
        typeof(SyntaxReference), typeof(Compilation), typeof(SemanticModel), typeof(Location), typeof(AttributeData),
        typeof(IOperation), typeof(TypedConstant),
    ];

    public static IReadOnlyList<string> Find(object? root, string rootName)
    {
        var found = new List<string>();
        Walk(root, rootName, new HashSet<object>(ReferenceEqualityComparer.Instance), found);
        return found;
    }

    private static void Walk(object? value, string path, HashSet<object> seen, List<string> found)
    {
        if (value is null) return;
        var type = value.GetType();
        if (s_forbidden.Any(forbidden => forbidden.IsAssignableFrom(type)))
        {
            found.Add($"{path} is a {type.FullName}");
            return;
        }
        if (type.IsPrimitive || type.IsEnum || value is string or decimal) return;
        if (!type.IsValueType && !seen.Add(value)) return;
        if (value is Array array)
        {
            int index = 0;
            foreach (object? item in array) Walk(item, $"{path}[{index++}]", seen, found);
            return;
        }
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (field.FieldType.IsPointer) continue;
                Walk(field.GetValue(value), $"{path}.{field.Name}", seen, found);
            }
        }
    }
}
