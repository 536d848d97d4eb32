"""Weather in both sensors: rain and fog attenuation of the radar (ITU-R), veiling of the camera (Koschmieder).

Pure NumPy, no scene or renderer imports, so the Sionna RT radar and the Mitsuba camera share one set of numbers
and the tests can hold them against the recommendations' own published values.

Radar (f in GHz inside the formulas; the API takes Hz):

  gamma_R = k(f, tau, theta) R^alpha(f, tau, theta)    [dB/km]   ITU-R P.838-3 (03/2005) eqs. (1)-(5)
  gamma_c = K_l(f, T) M                                 [dB/km]   ITU-R P.840-8 (08/2019) eqs. (1)-(11)
  P / P_clear = 10^(-(gamma_R + gamma_c) L / 10)        L [km]: the total length of the propagation path

R: rain rate [mm/h]; M: liquid water content of fog [g/m^3]; T: its temperature. Rain and fog are independent
absorbers, so their specific attenuations add. For a monostatic radar the ray tracer's path length c tau already
runs out and back, so L = c tau gives the two-way attenuation; the factor scales power, its square root the
complex path amplitude.

Camera (visible light, linear RGB; Koschmieder 1924, the scattering model of Narasimhan & Nayar 2002):

  I = I_0 t + A (1 - t),   t = exp(-beta d)

I_0: the clear-air radiance of a surface at distance d [m]; A: the airlight (the radiance of an infinitely deep
layer of the medium); beta [1/m]: the extinction coefficient, from rain (Marshall & Palmer 1948 drops) plus fog
(Kunkel 1984). Fog droplets and raindrops are large against visible wavelengths, so their extinction is
wavelength-neutral (extinction efficiency ~2) and one beta serves all three channels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

WEATHER_KINDS = ("clear", "rain", "fog")   # as scene.objects.WEATHER_KINDS

# ITU-R P.838-3 Tables 1-4: rows (a_j, b_j, c_j) of eqs. (2)-(3), then (m, c) of the log-linear term.
_P838_KH = (((-5.33980, -0.10008, 1.13098), (-0.35351, 1.26970, 0.45400), (-0.23789, 0.86036, 0.15354),
             (-0.94158, 0.64552, 0.16817)), -0.18961, 0.71147)
_P838_KV = (((-3.80595, 0.56934, 0.81061), (-3.44965, -0.22911, 0.51059), (-0.39902, 0.73042, 0.11899),
             (0.50167, 1.07319, 0.27195)), -0.16398, 0.63297)
_P838_AH = (((-0.14318, 1.82442, -0.55187), (0.29591, 0.77564, 0.19822), (0.32177, 0.63773, 0.13164),
             (-5.37610, -0.96230, 1.47828), (16.1721, -3.29980, 3.43990)), 0.67849, -1.95537)
_P838_AV = (((-0.07771, 2.33840, -0.76284), (0.56727, 0.95545, 0.54039), (-0.20238, 1.14520, 0.26809),
             (-48.2991, 0.791669, 0.116226), (48.5833, 0.791459, 0.116479)), -0.053739, 0.83433)

MOR_CONTRAST = 0.05          # WMO/CIE meteorological optical range: luminous flux falls to 5 %
KUNKEL_COEF_PER_KM = 144.7   # Kunkel (1984): beta [1/km] = 144.7 LWC^0.88, LWC [g/m^3]
KUNKEL_EXP = 0.88
MP_N0_PER_M4 = 8.0e6         # Marshall & Palmer (1948): N(D) = N0 exp(-Lambda D), N0 = 0.08 cm^-4
MP_LAMBDA_PER_M = 4100.0     # Lambda = 41 R^-0.21 cm^-1 = 4100 R^-0.21 m^-1, R [mm/h]


def _as_out(x: np.ndarray) -> float | np.ndarray:
    """0-d results come back as float, arrays as arrays."""
    return float(x) if np.ndim(x) == 0 else x


def _show(x) -> str:
    """A value for a one-line error message: scalars as themselves, arrays by shape and range."""
    a = np.asarray(x)
    if a.ndim == 0 or a.dtype.kind not in "iuf":
        return repr(x)
    return f"array{a.shape} in [{np.nanmin(a):g}, {np.nanmax(a):g}]" if a.size else "an empty array"


def _nonneg(name: str, x, allow_inf: bool = False) -> np.ndarray:
    """``x`` as a float array, refusing NaN, negatives and (unless allowed) infinity."""
    a = np.asarray(x, dtype=float)
    ok = (a >= 0) & (np.isfinite(a) | (allow_inf & (a == np.inf)))
    if not np.all(ok):
        raise ValueError(f"{name} must be {'>= 0' if allow_inf else 'finite and >= 0'}, got {_show(x)}")
    return a


def _ghz(f_hz, lo_ghz: float, hi_ghz: float, model: str) -> np.ndarray:
    """Frequency in GHz, refused outside the model's range [lo, hi] (NaN fails every comparison)."""
    f = np.asarray(f_hz, dtype=float) / 1e9
    if not np.all((f >= lo_ghz) & (f <= hi_ghz)):
        raise ValueError(f"{model} is valid for {lo_ghz:g}-{hi_ghz:g} GHz, got f_hz={_show(f_hz)}")
    return f


def _liquid_celsius(temperature_c: float) -> float:
    """Fog is liquid water: refuse temperatures below homogeneous freezing (-40 C) or at boiling (100 C)."""
    try:
        t = float(temperature_c)
    except (TypeError, ValueError):
        t = float("nan")
    if not -40.0 <= t < 100.0:
        raise ValueError(f"temperature_c must be in [-40, 100) C for liquid water, got {temperature_c!r}")
    return t


def _p838_fit(table, log_f: np.ndarray) -> np.ndarray:
    """Sum_j a_j exp(-((log10 f - b_j) / c_j)^2) + m log10 f + c: P.838-3 eq. (2) (of log10 k) and eq. (3)."""
    rows, m, c = table
    a, b, w = np.asarray(rows).T
    lf = log_f[..., None]
    return np.sum(a * np.exp(-(((lf - b) / w) ** 2)), axis=-1) + m * log_f + c


def rain_coefficients(f_hz, tau_deg: float = 90.0, elevation_deg: float = 0.0):
    """(k, alpha) of gamma_R = k R^alpha [dB/km, R in mm/h] after ITU-R P.838-3 (2005).

    k_H, k_V from eq. (2) and alpha_H, alpha_V from eq. (3) with the coefficients of Tables 1-4, combined for
    the polarisation tilt ``tau_deg`` (relative to the horizontal: 90 = vertical, our radar; 0 = horizontal;
    45 = circular) and the path elevation ``elevation_deg`` theta by eqs. (4)-(5). Valid for 1-1000 GHz.
    Floats for a scalar ``f_hz``, arrays otherwise.
    """
    log_f = np.log10(_ghz(f_hz, 1.0, 1000.0, "ITU-R P.838-3"))
    if not -90.0 <= float(elevation_deg) <= 90.0:
        raise ValueError(f"elevation_deg must be in [-90, 90], got {elevation_deg!r}")
    kh, kv = 10.0 ** _p838_fit(_P838_KH, log_f), 10.0 ** _p838_fit(_P838_KV, log_f)
    ah, av = _p838_fit(_P838_AH, log_f), _p838_fit(_P838_AV, log_f)
    # cos^2(theta) cos(2 tau) weighs H against V (falling drops are oblate, axis vertical): 0 for circular or zenith
    w = np.cos(np.deg2rad(elevation_deg)) ** 2 * np.cos(np.deg2rad(2.0 * float(tau_deg)))
    k = (kh + kv + (kh - kv) * w) / 2.0                                   # eq. (4)
    alpha = (kh * ah + kv * av + (kh * ah - kv * av) * w) / (2.0 * k)     # eq. (5)
    return _as_out(k), _as_out(alpha)


def rain_specific_attenuation_db_per_km(f_hz, rain_mm_h, tau_deg: float = 90.0, elevation_deg: float = 0.0):
    """gamma_R = k R^alpha [dB/km] of rain rate ``rain_mm_h`` R [mm/h] (ITU-R P.838-3 eq. (1)); vectorised over R.

    k and alpha from ``rain_coefficients`` (eqs. (2)-(5)); alpha > 0, so R = 0 gives exactly 0.
    """
    r = _nonneg("rain_mm_h", rain_mm_h)
    k, alpha = rain_coefficients(f_hz, tau_deg, elevation_deg)
    return _as_out(k * r ** alpha)


def fog_kl_db_per_km_per_g_m3(f_hz, temperature_c: float = 15.0):
    """Specific attenuation coefficient K_l(f, T) [(dB/km)/(g/m^3)] of liquid water droplets, ITU-R P.840-8.

    Rayleigh absorption by droplets (< 0.01 cm) with the double-Debye permittivity of water:
      theta = 300 / T [K]                                                   eq. (9)
      eps_0 = 77.66 + 103.3 (theta - 1), eps_1 = 0.0671 eps_0, eps_2 = 3.52  eqs. (6)-(8)
      f_p = 20.20 - 146 (theta - 1) + 316 (theta - 1)^2 [GHz], f_s = 39.8 f_p eqs. (10)-(11)
      eps'' = f (eps_0 - eps_1) / (f_p (1 + (f/f_p)^2)) + f (eps_1 - eps_2) / (f_s (1 + (f/f_s)^2))  eq. (4)
      eps'  = (eps_0 - eps_1) / (1 + (f/f_p)^2) + (eps_1 - eps_2) / (1 + (f/f_s)^2) + eps_2        eq. (5)
      eta = (2 + eps') / eps'',  K_l = 0.819 f / (eps'' (1 + eta^2))         eqs. (3), (2)
    The same K_l(f, T) is kept by P.840-9. P.840 applies it up to 1000 GHz (the Rayleigh approximation itself
    holds below ~200 GHz); ``temperature_c`` of the liquid water.
    """
    f = _ghz(f_hz, 0.0, 1000.0, "ITU-R P.840")
    if not np.all(f > 0):
        raise ValueError(f"f_hz must be > 0, got {_show(f_hz)}")
    theta = 300.0 / (_liquid_celsius(temperature_c) + 273.15)
    eps0 = 77.66 + 103.3 * (theta - 1.0)
    eps1, eps2 = 0.0671 * eps0, 3.52
    fp = 20.20 - 146.0 * (theta - 1.0) + 316.0 * (theta - 1.0) ** 2   # principal relaxation frequency [GHz]
    fs = 39.8 * fp                                                    # secondary relaxation frequency [GHz]
    lp, ls = 1.0 + (f / fp) ** 2, 1.0 + (f / fs) ** 2
    eps_im = f * (eps0 - eps1) / (fp * lp) + f * (eps1 - eps2) / (fs * ls)
    eps_re = (eps0 - eps1) / lp + (eps1 - eps2) / ls + eps2
    eta = (2.0 + eps_re) / eps_im
    return _as_out(0.819 * f / (eps_im * (1.0 + eta**2)))


def fog_specific_attenuation_db_per_km(f_hz, lwc_g_m3, temperature_c: float = 15.0):
    """gamma_c = K_l(f, T) M [dB/km] of fog or cloud with liquid water content ``lwc_g_m3`` M [g/m^3].

    ITU-R P.840-8 eq. (1), K_l from ``fog_kl_db_per_km_per_g_m3`` (eqs. (2)-(11)). P.840 quotes M ~ 0.05 g/m^3
    for medium fog (visibility ~300 m) and ~0.5 g/m^3 for thick fog (~50 m).
    """
    m = _nonneg("lwc_g_m3", lwc_g_m3)
    return _as_out(fog_kl_db_per_km_per_g_m3(f_hz, temperature_c) * m)


def path_power_factor(gamma_db_per_km, path_length_m):
    """Linear power factor 10^(-gamma L / 10) [-] of a path of total length ``path_length_m`` L [m].

    ``gamma_db_per_km`` is the specific attenuation [dB/km] along it. For a monostatic radar pass the ray
    tracer's c tau, which already covers both ways: the result is then the two-way attenuation.
    """
    g = _nonneg("gamma_db_per_km", gamma_db_per_km)
    length_km = _nonneg("path_length_m", path_length_m) / 1e3
    return _as_out(10.0 ** (-g * length_km / 10.0))


def path_amplitude_factor(gamma_db_per_km, path_length_m):
    """sqrt(``path_power_factor``) [-]: the factor on a path's complex amplitude (field, not power)."""
    return _as_out(np.sqrt(path_power_factor(gamma_db_per_km, path_length_m)))


def koschmieder(linear_rgb, distance_m, beta_per_m, airlight_rgb):
    """I = I_0 exp(-beta d) + A (1 - exp(-beta d)): a linear-RGB image seen through a scattering medium.

    Koschmieder (1924); the atmospheric scattering model of Narasimhan & Nayar (2002). ``linear_rgb`` [..., 3]
    I_0 (e.g. [H, W, 3]), ``distance_m`` d [m] broadcastable to its first axes (e.g. [H, W]; np.inf for sky),
    ``beta_per_m`` beta [1/m] >= 0, ``airlight_rgb`` A: scalar or [3]. Sky (d = inf, beta > 0) gives A exactly;
    beta = 0 (clear air) leaves the image unchanged, sky included.
    """
    img = np.asarray(linear_rgb, dtype=float)
    if img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"linear_rgb must be [..., 3], got shape {img.shape}")
    d = _nonneg("distance_m", distance_m, allow_inf=True)
    beta = _nonneg("beta_per_m", beta_per_m)
    air = _nonneg("airlight_rgb", airlight_rgb)
    with np.errstate(invalid="ignore"):       # 0 * inf: clear air over an infinite path has no optical depth
        depth = np.where(beta == 0.0, 0.0, beta * d)
    t = np.exp(-depth)[..., None]             # transmittance, one per pixel for all channels
    return air * (1.0 - t) + np.where(t > 0.0, img * t, 0.0)


def visibility_to_beta(visibility_m):
    """Extinction coefficient beta = -ln(0.05) / V ~ 2.996 / V [1/m] of a visibility ``visibility_m`` V [m].

    V is taken as the meteorological optical range (WMO-No. 8, CIE): the distance over which a beam keeps 5 % of
    its luminous flux, the quantity visibility meters report. Koschmieder's own 2 % contrast threshold gives
    3.912 / V instead. V = inf gives 0.
    """
    v = np.asarray(visibility_m, dtype=float)
    if not np.all(v > 0):
        raise ValueError(f"visibility_m must be > 0, got {_show(visibility_m)}")
    return _as_out(-np.log(MOR_CONTRAST) / v)


def fog_beta_per_m(lwc_g_m3):
    """Visible extinction of fog beta = 144.7 LWC^0.88 [1/km] -> [1/m] for ``lwc_g_m3`` LWC [g/m^3].

    Kunkel, B. A. (1984), J. Climate Appl. Meteor. 23, 34-41, fitted to measured fog drop spectra; the relation
    behind the visibility diagnostics of NCEP's post-processor (Stoelinga & Warner 1999). Approximate: it
    ignores the droplet number, which also sets the extinction at a given LWC (Gultepe et al. 2006).
    """
    m = _nonneg("lwc_g_m3", lwc_g_m3)
    return _as_out(KUNKEL_COEF_PER_KM * m**KUNKEL_EXP / 1e3)


def rain_beta_per_m(rain_mm_h):
    """Visible extinction of rain beta = pi N0 / Lambda^3 ~ 3.65e-4 R^0.63 [1/m] for ``rain_mm_h`` R [mm/h].

    Marshall & Palmer (1948) drops N(D) = N0 exp(-Lambda D), N0 = 8e6 m^-4, Lambda = 4100 R^-0.21 m^-1, each
    removing twice its cross-section pi D^2 / 4 (geometric optics, extinction efficiency 2 for drops >> lambda):
    beta = 2 int pi D^2 / 4 N(D) dD = pi N0 / Lambda^3. The same as Stoelinga & Warner's (1999) 2.24 W^0.75
    [1/km] with the M-P water content W. Approximate: real drop spectra depart from M-P (factor ~2).
    """
    r = _nonneg("rain_mm_h", rain_mm_h)
    # Lambda^-3 written as R^0.63 / 4100^3: finite (0) at R = 0
    return _as_out(np.pi * MP_N0_PER_M4 * r ** (3 * 0.21) / MP_LAMBDA_PER_M**3)


@dataclass(frozen=True)
class Weather:
    """One sequence's weather: ``kind`` (clear, rain, fog), rain rate [mm/h], fog liquid water [g/m^3], T [C].

    Keys as ``scene.objects.draw_weather``'s dict, so ``Weather(**drawn)`` works; clear weather carries no
    rain or fog.
    """

    kind: str = "clear"
    rain_mm_h: float = 0.0
    fog_lwc_g_m3: float = 0.0
    temperature_c: float = 15.0

    def __post_init__(self) -> None:
        if self.kind not in WEATHER_KINDS:
            raise ValueError(f"weather kind '{self.kind}' is not one of {', '.join(WEATHER_KINDS)}")
        for name in ("rain_mm_h", "fog_lwc_g_m3"):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise ValueError(f"weather {name} must be a number, got {getattr(self, name)!r}") from None
            _nonneg(f"weather {name}", value)
            object.__setattr__(self, name, value)
        if self.kind == "clear" and (self.rain_mm_h > 0 or self.fog_lwc_g_m3 > 0):
            raise ValueError("clear weather cannot have rain_mm_h or fog_lwc_g_m3 > 0")
        object.__setattr__(self, "temperature_c", _liquid_celsius(self.temperature_c))

    def radio_db_per_km(self, f_hz, tau_deg: float = 90.0, elevation_deg: float = 0.0):
        """gamma_R + gamma_c [dB/km] at ``f_hz``: independent absorbers add. A zero term is not evaluated."""
        if not np.all(np.asarray(f_hz, dtype=float) > 0):
            raise ValueError(f"f_hz must be > 0, got {_show(f_hz)}")
        gamma = np.zeros(np.shape(f_hz))
        if self.rain_mm_h > 0:
            gamma = gamma + rain_specific_attenuation_db_per_km(f_hz, self.rain_mm_h, tau_deg, elevation_deg)
        if self.fog_lwc_g_m3 > 0:
            gamma = gamma + fog_specific_attenuation_db_per_km(f_hz, self.fog_lwc_g_m3, self.temperature_c)
        return _as_out(gamma)

    def camera_beta_per_m(self) -> float:
        """beta_rain + beta_fog [1/m] for ``koschmieder``: the extinctions of independent scatterers add."""
        return float(rain_beta_per_m(self.rain_mm_h) + fog_beta_per_m(self.fog_lwc_g_m3))

    def as_dict(self) -> dict:
        """{"kind", "rain_mm_h", "fog_lwc_g_m3", "temperature_c"} (JSON-ready)."""
        return asdict(self)

    @classmethod
    def of_world(cls, world) -> "Weather":
        """The weather a ``scene.World`` was drawn with (its ``meta["weather"]``), clear when it has none."""
        meta = getattr(world, "meta", None)
        w = meta.get("weather") if isinstance(meta, dict) else None
        return cls(**w) if w else cls()
