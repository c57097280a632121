namespace Plandex.GrainInterfaces;

/// <summary>The front door for callers without a session: sign-up and sign-in with a one-time code.</summary>
public interface IAccessGrain : IGrainWithIntegerKey
{
    [ClientCallable(Anonymous = true)]
    Task<SignInResult> SignUp(SignUpRequest request);

    [ClientCallable(Anonymous = true)]
    Task<SignInResult> SignInWithCode(string email, string code);
}
