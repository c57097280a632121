using System.Security.Cryptography;
using System.Text;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;

namespace Plandex.Client.Streams;

/// <summary>
/// Reads the user's key from the provider's environment variable and seals it to a stream session.
/// What .NET allows on the client: the key is copied from the environment into a pinned buffer, sealed, and the
/// buffer zeroed. What it cannot guarantee: the environment itself (and the string .NET reads it into) stays in
/// this process until it exits; the CLI is short-lived, which bounds that.
/// </summary>
public static class ProviderKey
{
    public static SealedKey SealFromEnvironment(string provider, StreamTicket ticket, string endpoint)
    {
        var variable = ProviderDefaults.KeyVariable(provider);
        var value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(value) && provider == "ollama") value = "ollama"; // a local Ollama needs no key
        if (string.IsNullOrEmpty(value))
            throw new InvalidOperationException($"{variable} is not set: export your {provider} API key (it is sealed to the stream, never stored)");
        var pinned = ProviderKeySeal.Pinned(Encoding.UTF8.GetByteCount(value));
        try
        {
            Encoding.UTF8.GetBytes(value, pinned);
            return ProviderKeySeal.Seal(ticket.SessionPublicKey, ticket.StreamId, endpoint, pinned);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pinned);
        }
    }
}
