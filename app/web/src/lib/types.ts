// The API's shapes, as the frontend uses them (the OpenAPI document at /docs has them all).

export interface Page<T> {
  data: T[];
  count: number;
}

export type Audience = "named" | "everyone";

export interface Slide {
  id: string;
  position: number;
  title: string;
  content: string;
}

export interface Presentation {
  id: string;
  title: string;
  subtitle: string | null;
  owner_id: string;
  audience: Audience;
  is_active: boolean;
  deck_version: number | null;
  slides: Slide[];
}

export interface PresentationSummary {
  id: string;
  title: string;
  subtitle: string | null;
  owner_id: string;
  audience: Audience;
  is_active: boolean;
  slide_count: number;
  updated_at: string;
}

export interface AudienceInfo {
  audience: Audience;
  viewer_ids: string[];
  viewer_emails: string[];
}

export interface DeckSlide {
  position: number;
  title: string;
  image_url: string;
  thumbnail_url: string;
}

export interface Deck {
  version: number;
  page_count: number;
  size_bytes: number;
  uploaded_at: string;
  widths: number[];
  slides: DeckSlide[];
}

export interface SessionOpened {
  id: string;
  slide_count: number;
  ingest_token: string;
  ingest_token_expires_at: string;
  idle_timeout_seconds: number;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  session_ended: boolean;
}

export interface SlideAnalytics {
  slide_index: number;
  title: string | null;
  views: number;
  sessions: number;
  dwell_mean_seconds: number | null;
  dwell_median_seconds: number | null;
  drop_offs: number;
}

export interface PresentationAnalytics {
  presentation_id: string;
  title: string;
  slide_count: number;
  unique_viewers: number;
  sessions: number;
  active_sessions: number;
  mean_session_seconds: number | null;
  completed_sessions: number;
  completion_rate: number | null;
  slides: SlideAnalytics[];
  feedback: { count: number; mean_rating: number | null; distribution: Record<string, number> };
  sessions_per_day: { day: string; sessions: number }[];
}

export interface ViewerAnalytics {
  viewer_id: string;
  email: string;
  username: string;
  sessions: number;
  total_seconds: number;
  furthest_slide: number | null;
  feedback_given: boolean;
  rating: number | null;
}

export interface Feedback {
  id: string;
  viewer_id: string;
  rating: number;
  comment: string | null;
  created_at: string;
}

export interface Overview {
  users_by_role: Record<string, number>;
  presentations: number;
  active_presentations: number;
  sessions: number;
  active_sessions: number;
  events: number;
  feedback: number;
  mean_rating: number | null;
}
