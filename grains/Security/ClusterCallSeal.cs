using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Plandex.Grains.Security;

/// <summary>
/// Tells a call made inside the cluster from one a client sent. A message's sender id proves nothing: Orleans'
/// gateway forwards a client's message naming whatever sender the client wrote into it, so a modified client could
/// claim to be any grain (or the silo's own hosted client) and skip every check (<c>SpoofedSenderTests</c>). Every
/// call a silo makes (grains, the hosted client) therefore carries this cluster's secret in its request context,
/// which <see cref="AuthorizationFilter"/> checks, and no call to a client carries it. The secret is a key file in
/// <c>Security:KeyDirectory</c>, which every silo shares and no client sees; silo-to-silo traffic is TLS beyond
/// loopback. Hand-written because no Orleans facility authenticates a message's sender.
/// </summary>
public sealed class ClusterCallSeal : IOutgoingGrainCallFilter
{
    internal const string Key = "plx-cluster";
    private readonly string _secret;

    public ClusterCallSeal(IOptions<SecurityOptions> options)
    {
        var key = Encryption.KeyFile.ReadServerKey(options.Value.KeyDirectory, "cluster-calls.key");
        _secret = Convert.ToBase64String(key);
        CryptographicOperations.ZeroMemory(key);
    }

    /// <summary>Whether the current call's request context carries this cluster's secret (compared in constant time).</summary>
    public bool FromCluster()
    {
        if (RequestContext.Get(Key) is not string s || s.Length != _secret.Length) return false;
        var diff = 0;
        for (var i = 0; i < s.Length; i++) diff |= s[i] ^ _secret[i]; // no allocation: this runs on every call
        return diff == 0;
    }

    /// <summary>Drops a marker a client put in its request context (it never counts, and must not flow on).</summary>
    public static void Strip() => RequestContext.Remove(Key);

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (GrainTypePrefix.IsClient(context.TargetId)) RequestContext.Remove(Key); // never to a client
        else if (!ReferenceEquals(RequestContext.Get(Key), _secret)) RequestContext.Set(Key, _secret); // a Set copies the context
        return context.Invoke();
    }
}
