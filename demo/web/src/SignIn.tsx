import { type FormEvent, useState } from 'react';
import { login } from './server';

export function SignIn() {
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(null);
    try {
      await login(String(form.get('username')), String(form.get('password')));
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setPending(false);
    }
  };

  return (
    <section aria-labelledby="signin-heading" className="panel">
      <h2 id="signin-heading">Sign in</h2>
      <form className="signin" onSubmit={submit}>
        <label htmlFor="username">Username</label>
        <input id="username" name="username" defaultValue="ada" autoComplete="username" required />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          defaultValue="demo"
          autoComplete="current-password"
          aria-describedby="password-hint"
          required
        />
        <p id="password-hint" className="hint">
          Any username; the password is <kbd>demo</kbd>.
        </p>
        <button type="submit" disabled={pending}>
          Sign in
        </button>
      </form>
      {error && (
        <p role="alert" className="error" data-testid="signin-error">
          {error}
        </p>
      )}
    </section>
  );
}
