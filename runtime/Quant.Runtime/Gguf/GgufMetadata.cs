using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;

namespace Quant.Runtime.Gguf;

/// <summary>
/// The key-value metadata of a GGUF file, in file order: built with <see cref="Add"/> / <see cref="Set"/> for
/// <see cref="GgufWriter"/>, or read by <see cref="GgufFile"/>. The typed getters fail with a
/// <see cref="QuantFormatException"/> that names the key (and, for a read file, the file and the byte
/// offset of the pair) when it is missing or holds another type.
/// </summary>
public sealed class GgufMetadata : IReadOnlyList<KeyValuePair<string, GgufValue>>
{
    private readonly List<KeyValuePair<string, GgufValue>> _pairs = [];
    private readonly List<long> _offsets = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    /// <summary>An empty set of metadata.</summary>
    public GgufMetadata()
    {
    }

    internal GgufMetadata(string source) => Source = source;

    // The file the pairs were read from, for messages; null for metadata built in memory.
    internal string? Source { get; }

    /// <summary>The number of pairs.</summary>
    public int Count => _pairs.Count;

    /// <summary>The pair at <paramref name="index"/>, in file order.</summary>
    public KeyValuePair<string, GgufValue> this[int index] => _pairs[index];

    /// <summary>Adds a pair at the end.</summary>
    /// <exception cref="ArgumentException">The key is empty or already present.</exception>
    public GgufMetadata Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (_index.ContainsKey(key)) throw new ArgumentException($"GGUF metadata already has key '{key}'; keys are unique.", nameof(key));
        AddPair(key, value, -1);
        return this;
    }

    /// <summary>Replaces the value of <paramref name="key"/> where it stands, or adds the pair at the end.</summary>
    public GgufMetadata Set(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (_index.TryGetValue(key, out int i)) _pairs[i] = new(key, value);
        else AddPair(key, value, -1);
        return this;
    }

    /// <summary>Removes <paramref name="key"/>; false if it was not there.</summary>
    public bool Remove(string key)
    {
        if (!_index.Remove(key, out int i)) return false;
        _pairs.RemoveAt(i);
        _offsets.RemoveAt(i);
        for (int j = i; j < _pairs.Count; j++) _index[_pairs[j].Key] = j;
        return true;
    }

    internal bool TryAddRead(string key, GgufValue value, long offset)
    {
        if (_index.ContainsKey(key)) return false;
        AddPair(key, value, offset);
        return true;
    }

    private void AddPair(string key, GgufValue value, long offset)
    {
        _index.Add(key, _pairs.Count);
        _pairs.Add(new(key, value));
        _offsets.Add(offset);
    }

    /// <summary>Whether <paramref name="key"/> is present.</summary>
    public bool ContainsKey(string key) => _index.ContainsKey(key);

    /// <summary>The value of <paramref name="key"/>, if present.</summary>
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GgufValue? value)
    {
        if (_index.TryGetValue(key, out int i))
        {
            value = _pairs[i].Value;
            return true;
        }
        value = null;
        return false;
    }

    /// <summary>The byte offset of the pair of <paramref name="key"/> in the file it was read from, or -1.</summary>
    public long OffsetOf(string key) => _index.TryGetValue(key, out int i) ? _offsets[i] : -1;

    /// <summary>The value of <paramref name="key"/>.</summary>
    /// <exception cref="QuantFormatException">The key is missing.</exception>
    public GgufValue Get(string key)
        => TryGetValue(key, out var value) ? value : throw Error(key, "is missing");

    /// <summary>A string value.</summary>
    /// <exception cref="QuantFormatException">The key is missing or not a string.</exception>
    public string GetString(string key)
    {
        var value = Get(key);
        return value.Type == GgufValueType.String ? value.AsString() : throw WrongType(key, value, "a string");
    }

    /// <summary>An integer of any width and signedness whose value fits in a u32 (writers differ in the width they pick).</summary>
    /// <exception cref="QuantFormatException">The key is missing, not an integer, or out of range.</exception>
    public uint GetUInt32(string key)
    {
        ulong value = GetUInt64(key);
        return value <= uint.MaxValue ? (uint)value : throw Error(key, string.Create(CultureInfo.InvariantCulture, $"is {value}, more than a u32 holds"));
    }

    /// <summary>A non-negative integer of any width and signedness.</summary>
    /// <exception cref="QuantFormatException">The key is missing, not an integer, or negative.</exception>
    public ulong GetUInt64(string key)
    {
        var value = Get(key);
        if (value.TryGetUInt64(out ulong result)) return result;
        throw value.IsInteger ? Error(key, $"is {value}, not a non-negative integer") : WrongType(key, value, "an unsigned integer");
    }

    /// <summary>An integer of any width and signedness whose value fits in an i32.</summary>
    /// <exception cref="QuantFormatException">The key is missing, not an integer, or out of range.</exception>
    public int GetInt32(string key)
    {
        long value = GetInt64(key);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : throw Error(key, string.Create(CultureInfo.InvariantCulture, $"is {value}, outside the range of an i32"));
    }

    /// <summary>An integer of any width and signedness whose value fits in an i64.</summary>
    /// <exception cref="QuantFormatException">The key is missing, not an integer, or out of range.</exception>
    public long GetInt64(string key)
    {
        var value = Get(key);
        if (value.TryGetInt64(out long result)) return result;
        throw value.IsInteger ? Error(key, $"is {value}, more than an i64 holds") : WrongType(key, value, "an integer");
    }

    /// <summary>An f32 value.</summary>
    /// <exception cref="QuantFormatException">The key is missing or not an f32.</exception>
    public float GetFloat32(string key)
    {
        var value = Get(key);
        return value.Type == GgufValueType.Float32 ? value.AsFloat32() : throw WrongType(key, value, "an f32");
    }

    /// <summary>An f64 value, or an f32 widened exactly.</summary>
    /// <exception cref="QuantFormatException">The key is missing or not a float.</exception>
    public double GetFloat64(string key)
    {
        var value = Get(key);
        return value.Type is GgufValueType.Float64 or GgufValueType.Float32 ? value.AsFloat64() : throw WrongType(key, value, "an f64 or f32");
    }

    /// <summary>A bool value.</summary>
    /// <exception cref="QuantFormatException">The key is missing or not a bool.</exception>
    public bool GetBool(string key)
    {
        var value = Get(key);
        return value.Type == GgufValueType.Bool ? value.AsBool() : throw WrongType(key, value, "a bool");
    }

    /// <summary>An array value.</summary>
    /// <exception cref="QuantFormatException">The key is missing or not an array.</exception>
    public GgufArray GetArray(string key)
    {
        var value = Get(key);
        return value.Type == GgufValueType.Array ? value.AsArray() : throw WrongType(key, value, "an array");
    }

    /// <summary>The elements of a string array.</summary>
    /// <exception cref="QuantFormatException">The key is missing or not a string array.</exception>
    public string[] GetStringArray(string key)
    {
        var array = GetArray(key);
        return array.ElementType == GgufValueType.String ? array.ToStringArray() : throw WrongType(key, Get(key), "a string array");
    }

    private QuantFormatException WrongType(string key, GgufValue value, string wanted)
        => Error(key, $"is {GgufLayout.Describe(value)}, not {wanted}");

    private QuantFormatException Error(string key, string problem)
    {
        long offset = OffsetOf(key);
        string where = Source is null ? "" : Source + ": ";
        string at = offset >= 0 ? string.Create(CultureInfo.InvariantCulture, $" (at byte {offset})") : "";
        return new QuantFormatException($"{where}metadata key '{key}'{at} {problem}", offset);
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => _pairs.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
