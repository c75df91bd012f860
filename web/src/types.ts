// Shapes of the API's answers that several pages read (each page declares only the fields it uses).

export interface Branding {
  primaryColor: string | null;
  secondaryColor: string | null;
  logoUrl: string | null;
  bannerUrl: string | null;
}
