"use client";

import { usePathname, useRouter } from "next/navigation";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";

import { onSessionChange, refreshSession, type Role, type User } from "@/lib/api";

interface AuthState {
  user: User | null;
  ready: boolean; // false until the first refresh answered
}

const AuthContext = createContext<AuthState>({ user: null, ready: false });

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ user: null, ready: false });
  useEffect(() => {
    const stop = onSessionChange((user) => setState({ user, ready: true }));
    refreshSession().catch(() => setState({ user: null, ready: true }));
    return stop;
  }, []);
  return <AuthContext.Provider value={state}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  return useContext(AuthContext);
}

/** The signed-in user; sends anyone else to the sign-in page and back here afterwards. */
export function useRequireUser(roles?: readonly Role[]): { user: User | null; allowed: boolean } {
  const { user, ready } = useAuth();
  const router = useRouter();
  const pathname = usePathname();
  useEffect(() => {
    if (ready && !user) {
      const next = pathname + window.location.search;
      router.replace(`/signin?next=${encodeURIComponent(next)}`);
    }
  }, [ready, user, router, pathname]);
  return { user, allowed: !!user && (!roles || roles.includes(user.role)) };
}

export function canPresent(user: User | null): boolean {
  return user?.role === "presenter" || user?.role === "admin";
}
