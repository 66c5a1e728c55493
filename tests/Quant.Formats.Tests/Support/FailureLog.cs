using System;
using System.Collections.Generic;
using Xunit.Sdk;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// Collects assertion failures across a sweep instead of stopping at the first, so one known bug does not
/// hide what the rest of the sweep would find. <see cref="ThrowIfAny"/> reports the count and the first few.
/// </summary>
internal sealed class FailureLog
{
    private readonly List<string> _messages = [];
    private int _zeroSignOnly;

    public int Count => _messages.Count;

    public void Run(Action check)
    {
        try
        {
            check();
        }
        catch (XunitException e)
        {
            _messages.Add(e.Message);
            if (e is ZeroSignMismatchException) _zeroSignOnly++;
        }
    }

    public void ThrowIfAny(int show = 8)
    {
        if (_messages.Count == 0) return;
        var shown = _messages.GetRange(0, Math.Min(show, _messages.Count));
        throw new XunitException($"{_messages.Count} failed checks ({_zeroSignOnly} of them differ only in the sign of zeros); the first {shown.Count}:{Environment.NewLine}  "
            + string.Join(Environment.NewLine + "  ", shown));
    }
}
