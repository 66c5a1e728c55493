using System.Collections.Generic;
using System.Text;

namespace Quant.Ggml.Tests;

/// <summary>Quantizes every block of a peer case with the library and compares it with ggml's block.</summary>
internal static class PeerCheck
{
    /// <summary>
    /// Asserts that every block matches; on a mismatch the message names the case, the block (row-major
    /// index, row, block in row) and the first differing field, for the first few mismatching blocks.
    /// </summary>
    /// <returns>The number of blocks compared.</returns>
    public static int AssertAllBlocksMatch(string type, string caseName)
    {
        PeerCase peer = PeerVectors.Load(type, caseName);
        bool rowRef = caseName.EndsWith("-rowref", System.StringComparison.Ordinal);
        var failures = new List<string>();
        int compared = 0;
        for (int row = 0; row < peer.Rows; row++)
        {
            for (int block = 0; block < peer.BlocksPerRow; block++)
            {
                int index = row * peer.BlocksPerRow + block;
                LogicalBlock expected = GgmlBlockDecoders.Decode(type, peer.BlockBytes(row, block));
                LogicalBlock actual = Quantizers.Quantize(type, peer.BlockValues(row, block), peer.BlockImportance(block), peer.Row(row), rowRef);
                // ggml left these nibbles as its scratch array held them; only d (0) is defined.
                bool unsetNibbles = peer.UnsetNibbleBlocks.Contains(index);
                string? difference = expected.FirstDifference(actual, compareCodes: !unsetNibbles);
                if (difference is null && unsetNibbles && actual.D != 0f) difference = $"d: expected 0 for an unset-nibble block, got {actual.D:R}";
                if (difference is not null) failures.Add($"{type}/{caseName} block {index} (row {row}, block {block}): {difference}");
                compared++;
            }
        }
        if (failures.Count > 0)
        {
            var message = new StringBuilder();
            message.AppendLine($"{failures.Count} of {compared} blocks differ from ggml's:");
            foreach (string failure in failures.GetRange(0, System.Math.Min(10, failures.Count))) message.AppendLine(failure);
            Assert.Fail(message.ToString());
        }
        return compared;
    }
}
